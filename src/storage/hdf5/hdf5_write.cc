// Backend::Write for HDF5: one file per item, one dataset per leaf, collective MPI-IO data writes.
//
// Parallel HDF5 needs every rank to make the same collective calls in the same order. The leaves
// are identical on every rank, so metadata operations (groups, datasets, attributes) either fail
// everywhere or nowhere; per-rank problems (a bad piece) are found before the first collective
// HDF5 call and agreed on, and during the data phase every rank keeps calling H5Dwrite for every
// round even after a local failure, reporting its first error only at the end.
#include <sys/statvfs.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/box_ops.h"
#include "base/fs.h"
#include "comm/mpi_native.h"
#include "storage/hdf5/h5_util.h"
#include "storage/hdf5/hdf5_io.h"
#include "storage/hdf5/hdf5_types.h"
#include "storage/hdf5/zstd_filter.h"

namespace cairn::storage::hdf5 {
namespace {

namespace fs = std::filesystem;

// Datasets of at least kAlignThreshold bytes start at a multiple of kAlignment, so the large
// MPI-IO writes cover whole file-system blocks and stripes instead of straddling them. Small
// datasets stay packed.
constexpr hsize_t kAlignThreshold = hsize_t{4} << 20;
constexpr hsize_t kAlignment = hsize_t{1} << 20;
// HDF5's limit on the size of one chunk.
constexpr uint64_t kMaxChunkBytes = 0xFFFFFFFFull;

std::string Where(const fs::path& file, const WriteLeaf& leaf) {
  return "hdf5 file " + file.string() + ", key " + leaf.key_path;
}

Status Contextualize(const Status& s, const fs::path& file, const WriteLeaf& leaf) {
  return s.ok() ? s : s.WithContext(Where(file, leaf));
}

// Chunk extents as stored: clamped to the array (HDF5 rejects chunks larger than a fixed extent).
std::vector<hsize_t> StoredChunk(const WriteLeaf& leaf) {
  std::vector<hsize_t> chunk = ToHsize(*leaf.chunk_shape);
  for (size_t d = 0; d < chunk.size(); ++d) {
    chunk[d] = std::min<hsize_t>(chunk[d], static_cast<hsize_t>(leaf.global_shape[d]));
  }
  return chunk;
}

// Chunked layout needs at least one element and at least one dimension.
bool UsesChunks(const WriteLeaf& leaf) {
  return leaf.chunk_shape.has_value() && !leaf.global_shape.empty() &&
         base::NumElements(leaf.global_shape) > 0;
}

Status ValidateLeaf(const WriteLeaf& leaf) {
  CAIRN_RETURN_IF_ERROR(ValidateSegments(leaf.segments));
  const Shape& shape = leaf.global_shape;
  for (int64_t e : shape) {
    if (e < 0) return InvalidArgumentError("negative extent in global shape " + ShapeString(shape));
  }
  if (leaf.compress && !leaf.chunk_shape) {
    return InvalidArgumentError("compression requires a chunk shape");
  }
  if (leaf.chunk_shape) {
    const Shape& chunk = *leaf.chunk_shape;
    if (chunk.size() != shape.size()) {
      return InvalidArgumentError("chunk shape " + ShapeString(chunk) + " has a different rank " +
                                  "than global shape " + ShapeString(shape));
    }
    for (int64_t e : chunk) {
      if (e <= 0) return InvalidArgumentError("chunk shape " + ShapeString(chunk) + " not > 0");
    }
    if (UsesChunks(leaf)) {
      uint64_t bytes = DTypeSize(leaf.dtype);
      for (hsize_t e : StoredChunk(leaf)) bytes *= e;
      if (bytes > kMaxChunkBytes) {
        return InvalidArgumentError("chunk shape " + ShapeString(chunk) + " makes chunks of " +
                                    std::to_string(bytes) + " bytes; HDF5 allows at most 4 GiB");
      }
    }
  }
  if (leaf.pieces.size() > static_cast<size_t>(std::max(leaf.max_pieces_per_rank, 0))) {
    return InvalidArgumentError("this rank has " + std::to_string(leaf.pieces.size()) +
                                " pieces but max_pieces_per_rank is " +
                                std::to_string(leaf.max_pieces_per_rank));
  }
  for (const WritePiece& p : leaf.pieces) {
    if (p.box.origin.size() != shape.size() || p.box.shape.size() != shape.size() ||
        !base::WithinShape(p.box, shape)) {
      return InvalidArgumentError("piece " + p.box.ToString() + " is not within global shape " +
                                  ShapeString(shape));
    }
    if (p.data == nullptr && !p.acquire && p.box.NumElements() > 0) {
      return InvalidArgumentError("piece " + p.box.ToString() + " has no data");
    }
  }
  return OkStatus();
}

// One item's file while it is being written.
class ItemWriter {
 public:
  ItemWriter(std::span<const WriteLeaf> leaves, fs::path file, MPI_Comm comm)
      : leaves_(leaves), file_(std::move(file)), comm_(comm) {}

  // Creates (truncates) the file. Collective.
  Status Open() {
    CAIRN_ASSIGN_OR_RETURN(h5::Handle fapl, h5::CreatePropList(H5P_FILE_ACCESS));
    if (parallel()) {
      CAIRN_RETURN_IF_ERROR(h5::SetFaplMpio(fapl.id(), comm_));
      CAIRN_RETURN_IF_ERROR(h5::SetCollectiveMetadataOps(fapl.id(), true));
      CAIRN_RETURN_IF_ERROR(h5::SetCollectiveMetadataWrite(fapl.id(), true));
    }
    CAIRN_RETURN_IF_ERROR(h5::SetAlignment(fapl.id(), kAlignThreshold, kAlignment));
    CAIRN_ASSIGN_OR_RETURN(file_h_, h5::CreateFile(file_, fapl.id()));
    return OkStatus();
  }

  // Groups, datasets and attributes of every leaf, in order. Collective; stops at the first
  // error, which (the leaves being the same everywhere) every rank meets at the same leaf.
  Status CreateDatasets() {
    for (const WriteLeaf& leaf : leaves_) {
      Status s = CreateDataset(leaf);
      if (!s.ok()) return Contextualize(s, file_, leaf);
    }
    return OkStatus();
  }

  // The collective data writes: round r writes every rank's r-th piece of a leaf.
  // `individual[i]`: leaf i is written with independent MPI-IO under the collective call (the
  // same on every rank).
  Status WriteData(const std::vector<bool>& individual) {
    Status first;
    auto note = [&first](Status s) {
      if (first.ok() && !s.ok()) first = std::move(s);
    };
    h5::Handle dxpl, dxpl_individual;
    for (h5::Handle* h : {&dxpl, &dxpl_individual}) {
      if (Result<h5::Handle> r = h5::CreatePropList(H5P_DATASET_XFER); r.ok()) {
        *h = std::move(r).value();
        if (parallel()) note(h5::SetTransferMode(h->id(), /*collective=*/true));
      } else {
        note(r.status());
      }
    }
    if (parallel() && dxpl_individual.valid()) note(h5::SetIndividualIo(dxpl_individual.id()));
    for (size_t i = 0; i < leaves_.size(); ++i) {
      const h5::Handle& chosen = individual[i] ? dxpl_individual : dxpl;
      const hid_t dxpl_id = chosen.valid() ? chosen.id() : H5P_DEFAULT;
      const WriteLeaf& leaf = leaves_[i];
      if (base::NumElements(leaf.global_shape) == 0) continue;  // the same on every rank
      Result<h5::Handle> space = h5::DatasetSpace(datasets_[i].id());
      if (!space.ok()) {
        note(Contextualize(space.status(), file_, leaf));
        continue;
      }
      const size_t rounds =
          parallel() ? static_cast<size_t>(leaf.max_pieces_per_rank) : leaf.pieces.size();
      for (size_t r = 0; r < rounds; ++r) {
        const WritePiece* piece = r < leaf.pieces.size() ? &leaf.pieces[r] : nullptr;
        if (piece != nullptr && piece->box.NumElements() == 0) piece = nullptr;
        if (piece == nullptr && !parallel()) continue;
        Status s = WriteRound(i, piece, space->id(), dxpl_id);
        if (!s.ok() && piece != nullptr) s = s.WithContext("piece " + piece->box.ToString());
        note(Contextualize(s, file_, leaf));
      }
    }
    return first;
  }

  // Closes every object and then the file (its final, collective metadata flush). Collective.
  Status Close() {
    Status first;
    auto note = [&first](Status s) {
      if (first.ok() && !s.ok()) first = std::move(s);
    };
    for (h5::Handle& d : datasets_) note(d.Close());
    for (h5::Handle& t : types_) note(t.Close());
    for (auto& [path, g] : groups_) note(g.Close());
    Status closed = file_h_.Close();
    note(closed.ok() ? closed : closed.WithContext("hdf5 file " + file_.string()));
    return first;
  }

 private:
  bool parallel() const { return comm_ != MPI_COMM_NULL; }

  // The group holding the leaf's dataset, creating missing groups (all but the last segment).
  Result<hid_t> ParentGroup(const std::vector<std::string>& segments) {
    hid_t loc = file_h_.id();
    std::string path;
    for (size_t k = 0; k + 1 < segments.size(); ++k) {
      path += "/" + segments[k];
      auto it = groups_.find(path);
      if (it == groups_.end()) {
        CAIRN_ASSIGN_OR_RETURN(const bool exists, h5::LinkExists(loc, segments[k]));
        CAIRN_ASSIGN_OR_RETURN(h5::Handle g, exists ? h5::OpenGroup(loc, segments[k])
                                                    : h5::CreateGroup(loc, segments[k]));
        it = groups_.emplace(path, std::move(g)).first;
      }
      loc = it->second.id();
    }
    return loc;
  }

  Status CreateDataset(const WriteLeaf& leaf) {
    CAIRN_ASSIGN_OR_RETURN(const hid_t parent, ParentGroup(leaf.segments));
    CAIRN_ASSIGN_OR_RETURN(h5::Handle type, StoredType(leaf.dtype));
    CAIRN_ASSIGN_OR_RETURN(h5::Handle space, h5::CreateSpace(ToHsize(leaf.global_shape)));
    CAIRN_ASSIGN_OR_RETURN(h5::Handle dcpl, h5::CreatePropList(H5P_DATASET_CREATE));
    // Missing regions are tracked above the backend, so skip writing fill values.
    CAIRN_RETURN_IF_ERROR(h5::SetFillTimeNever(dcpl.id()));
    if (UsesChunks(leaf)) {
      CAIRN_RETURN_IF_ERROR(h5::SetChunk(dcpl.id(), StoredChunk(leaf)));
      if (leaf.compress) {
        const unsigned cd[1] = {static_cast<unsigned>(leaf.compression_level)};
        CAIRN_RETURN_IF_ERROR(h5::SetFilter(dcpl.id(), kZstdFilterId, H5Z_FLAG_MANDATORY, cd));
      }
    }
    CAIRN_ASSIGN_OR_RETURN(h5::Handle dataset, h5::CreateDataset(parent, leaf.segments.back(),
                                                                 type.id(), space.id(), dcpl.id()));
    CAIRN_RETURN_IF_ERROR(WriteLeafAttributes(dataset.id(), leaf.dtype, leaf.global_shape));
    datasets_.push_back(std::move(dataset));
    types_.push_back(std::move(type));
    return OkStatus();
  }

  // One H5Dwrite: this rank's piece, or an empty selection. Always reaches H5Dwrite, so that a
  // local failure never leaves the other ranks waiting in the collective call.
  Status WriteRound(size_t i, const WritePiece* piece, hid_t file_space, hid_t dxpl) {
    Status first;
    h5::Handle mem;
    if (piece != nullptr) {
      first = h5::SelectBox(file_space, ToHsize(piece->box.origin), ToHsize(piece->box.shape));
      if (first.ok()) {
        Result<h5::Handle> m = h5::CreateSpace(ToHsize(piece->box.shape));
        if (m.ok())
          mem = std::move(m).value();
        else
          first = m.status();
      }
    }
    static const char kNothing = 0;  // H5Dwrite wants a buffer even for an empty selection
    const void* data = &kNothing;
    // Lazy bytes are acquired here and released after this round's H5Dwrite. A failure still
    // takes part in the collective write, with an empty selection.
    std::optional<PieceBytes> bytes;
    if (piece != nullptr && first.ok()) {
      Result<PieceBytes> got = PieceBytes::Acquire(*piece);
      if (got.ok()) {
        bytes.emplace(std::move(got).value());
      } else {
        first = got.status();
      }
    }
    if (bytes) {
      data = bytes->data();
    } else {
      Status s = h5::SelectNone(file_space);
      const hsize_t one[1] = {1};
      Result<h5::Handle> m = h5::CreateSpace(one);
      if (s.ok() && m.ok()) s = h5::SelectNone(m->id());
      if (m.ok())
        mem = std::move(m).value();
      else if (s.ok())
        s = m.status();
      if (first.ok()) first = s;
    }
    Status w =
        h5::WriteDataset(datasets_[i].id(), types_[i].id(), mem.id(), file_space, dxpl, data);
    return first.ok() ? w : first;
  }

  std::span<const WriteLeaf> leaves_;
  fs::path file_;
  MPI_Comm comm_;
  h5::Handle file_h_;
  std::map<std::string, h5::Handle> groups_;  // by path; closed in path order on every rank
  std::vector<h5::Handle> datasets_;          // per leaf
  std::vector<h5::Handle> types_;             // per leaf: file type == memory type
};

// FNV-1a over everything that must be identical on every rank, kept non-negative.
// True if each of this rank's pieces is one contiguous run of the C-order dataset: after the
// first dimension where the box extends beyond one index, it spans whole dimensions.
bool AllPiecesContiguous(const WriteLeaf& leaf) {
  for (const WritePiece& p : leaf.pieces) {
    size_t d = 0;
    while (d < p.box.shape.size() && p.box.shape[d] == 1) ++d;
    for (size_t k = d + 1; k < p.box.shape.size(); ++k) {
      if (p.box.shape[k] != leaf.global_shape[k]) return false;
    }
  }
  return true;
}

// MPI-IO reports a failed write without its cause. When the file system has less room left than
// this rank was writing, say so: a full disk is the common cause and the one a user can act on.
Status DiagnoseFullDisk(const Status& s, const std::filesystem::path& dir,
                        std::span<const WriteLeaf> leaves) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) return s;
  const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  uint64_t mine = 0;
  for (const WriteLeaf& leaf : leaves) {
    for (const WritePiece& p : leaf.pieces) {
      mine += static_cast<uint64_t>(p.box.NumElements()) * DTypeSize(leaf.dtype);
    }
  }
  if (free_bytes >= std::max<uint64_t>(mine, 1 << 20)) return s;
  return ResourceExhaustedError("no space left on the file system of '" + dir.string() + "' (" +
                                std::to_string(free_bytes) + " bytes free, this rank writes " +
                                std::to_string(mine) + "): " + s.message());
}

int64_t LeavesHash(std::span<const WriteLeaf> leaves) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view bytes) {
    for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  };
  auto mix_int = [&mix](int64_t v) { mix(std::string_view(reinterpret_cast<char*>(&v), 8)); };
  for (const WriteLeaf& leaf : leaves) {
    mix(leaf.key_path);
    for (const std::string& s : leaf.segments) {
      mix(s);
      mix_int(-1);
    }
    mix_int(static_cast<int64_t>(leaf.dtype));
    for (int64_t e : leaf.global_shape) mix_int(e);
    mix_int(leaf.chunk_shape ? static_cast<int64_t>(leaf.chunk_shape->size()) : -1);
    if (leaf.chunk_shape) {
      for (int64_t e : *leaf.chunk_shape) mix_int(e);
    }
    mix_int(leaf.compress ? leaf.compression_level : -1000);
    mix_int(leaf.max_pieces_per_rank);
  }
  return static_cast<int64_t>(h >> 1);
}

Status ApplyMode(const fs::path& file, uint32_t mode) {
  if (::chmod(file.c_str(), static_cast<mode_t>(mode)) != 0) {
    const int err = errno;
    return base::ErrnoError(err, "cannot chmod", file);
  }
  return OkStatus();
}

}  // namespace

Result<std::vector<std::vector<nlohmann::json>>> WriteItem(const BackendContext& ctx,
                                                           std::span<const WriteLeaf> leaves) {
  if (ctx.comm == nullptr) return InvalidArgumentError("hdf5 backend: no communicator");
  std::vector<std::vector<nlohmann::json>> locations;
  locations.reserve(leaves.size());
  for (const WriteLeaf& leaf : leaves) locations.emplace_back(leaf.pieces.size(), nullptr);
  if (leaves.empty()) return locations;  // the same on every rank: no file at all

  const fs::path file = ctx.item_dir / kDataFileName;
  const MPI_Comm comm = comm::NativeMpiComm(*ctx.comm);
  const bool parallel = comm != MPI_COMM_NULL;
  if (!parallel && ctx.comm->size() > 1) {
    return FailedPreconditionError(
        "hdf5 backend: writing " + file.string() + " from " + std::to_string(ctx.comm->size()) +
        " ranks needs an MPI communicator, got \"" + std::string(ctx.comm->kind()) + "\"");
  }
  std::lock_guard<std::recursive_mutex> lock(Hdf5Mutex());

  // Everything a rank can get wrong on its own is checked before the first collective call.
  Status local;
  bool compress = false;
  for (const WriteLeaf& leaf : leaves) {
    local = Contextualize(ValidateLeaf(leaf), file, leaf);
    if (!local.ok()) break;
    compress = compress || leaf.compress;
  }
  if (local.ok() && compress) local = RegisterZstdFilter();
  if (parallel) {
    // Leaves that differ between ranks (a caller bug) would desynchronise the collective calls
    // and hang; one allreduce of {h, -h} compares them.
    const int64_t h = LeavesHash(leaves);
    std::vector<int64_t> v = {h, -h};
    Status s = ctx.comm->AllReduceMax(v);
    if (!s.ok()) return s;  // the communicator itself failed: no agreement possible
    if (local.ok() && (v[0] != h || v[1] != -h)) {
      local = InvalidArgumentError("hdf5 file " + file.string() +
                                   ": ranks passed different leaves (key paths, dtypes, shapes, "
                                   "chunking or max_pieces_per_rank differ)");
    }
    local = AgreeOnStatus(*ctx.comm, local);
  }
  CAIRN_RETURN_IF_ERROR(local);

  // Two-phase collective buffering helps when ranks' selections interleave in the file; when
  // every rank's pieces are contiguous runs of the file it only funnels all the data through a
  // few aggregator ranks (Open MPI's OMPIO: one writer for 1 GiB from 4 ranks, measured 3x
  // slower than each rank writing its own run). Filtered datasets need collective I/O.
  std::vector<bool> individual(leaves.size(), false);
  if (parallel) {
    std::vector<int64_t> flags(leaves.size());
    for (size_t i = 0; i < leaves.size(); ++i) {
      flags[i] = !leaves[i].compress && AllPiecesContiguous(leaves[i]) ? 1 : 0;
    }
    CAIRN_RETURN_IF_ERROR(ctx.comm->AllReduceMin(flags));
    for (size_t i = 0; i < leaves.size(); ++i) individual[i] = flags[i] == 1;
  }

  ItemWriter writer(leaves, file, comm);
  Status status = writer.Open();
  if (!status.ok()) status = status.WithContext("hdf5 backend: creating " + file.string());
  if (parallel) status = AgreeOnStatus(*ctx.comm, status);
  CAIRN_RETURN_IF_ERROR(status);
  status = writer.CreateDatasets();
  if (parallel) status = AgreeOnStatus(*ctx.comm, status);
  if (status.ok()) status = writer.WriteData(individual);
  if (!status.ok()) status = DiagnoseFullDisk(status, ctx.item_dir, leaves);
  if (parallel) status = AgreeOnStatus(*ctx.comm, status);
  if (!status.ok()) {
    // The file is abandoned. Free its space first: on a full file system the close's final
    // metadata flush would fail too, leave the file open inside HDF5, and HDF5 would crash
    // retrying that close at exit (seen with 1.10.8).
    if (ctx.comm->rank() == ctx.primary) ::truncate(file.c_str(), 0);
    if (parallel) ctx.comm->Barrier().IgnoreError();
  }
  Status closed = writer.Close();
  if (status.ok()) status = closed;
  CAIRN_RETURN_IF_ERROR(status);

  // Durable before the commit marks the checkpoint complete: each rank flushes what its own
  // MPI-IO writes left in its page cache; the primary fixes the mode and the directory entry.
  if (ctx.comm->rank() == ctx.primary && ctx.file_mode) {
    CAIRN_RETURN_IF_ERROR(ApplyMode(file, *ctx.file_mode));
  }
  CAIRN_RETURN_IF_ERROR(base::FsyncPath(file));
  if (ctx.comm->rank() == ctx.primary) CAIRN_RETURN_IF_ERROR(base::FsyncPath(ctx.item_dir));
  return locations;
}

}  // namespace cairn::storage::hdf5
