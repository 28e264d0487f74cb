// Write: one collective (an allgather of per-leaf chunk constraints), each rank encodes the
// chunks of its pieces and writes its own database, the ranks agree, then the primary merges.
// Read: independent per rank: one ReadView of the merged database, chunks fetched per request.
#include "storage/ocdbt/ocdbt_backend.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>

#include "base/box_ops.h"
#include "format/ocdbt/read_view.h"
#include "format/ocdbt/writer.h"
#include "format/ocdbt/zarr_encode.h"
#include "format/ocdbt/zarr_metadata.h"
#include "storage/ocdbt/merge.h"
#include "storage/ocdbt/orbax_files.h"
#include "storage/ocdbt/zarr_chunks.h"

namespace cairn::storage {
namespace {

using nlohmann::json;

// Per leaf and dimension, the GCD of this rank's piece origins and extents (0: no piece).
std::vector<int64_t> LocalChunkConstraints(std::span<const WriteLeaf> leaves) {
  std::vector<int64_t> out;
  for (const WriteLeaf& leaf : leaves) {
    std::vector<int64_t> g(leaf.global_shape.size(), 0);
    for (const WritePiece& piece : leaf.pieces) {
      if (piece.box.NumElements() == 0) continue;
      for (size_t d = 0; d < g.size(); ++d) {
        g[d] = std::gcd(g[d], std::gcd(piece.box.origin[d], piece.box.shape[d]));
      }
    }
    out.insert(out.end(), g.begin(), g.end());
  }
  return out;
}

Result<std::vector<std::vector<uint64_t>>> AgreeChunkShapes(Communicator& comm,
                                                            std::span<const WriteLeaf> leaves) {
  const std::vector<int64_t> local = LocalChunkConstraints(leaves);
  std::string mine(local.size() * sizeof(int64_t), '\0');
  if (!local.empty()) std::memcpy(mine.data(), local.data(), mine.size());
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> all, comm.AllGather(mine));
  std::vector<int64_t> g = local;
  for (const std::string& other : all) {
    if (other.size() != mine.size()) {
      return InternalError("ocdbt backend: ranks disagree on the leaves being written");
    }
    for (size_t i = 0; i < g.size(); ++i) {
      int64_t v;
      std::memcpy(&v, other.data() + i * sizeof(int64_t), sizeof(int64_t));
      g[i] = std::gcd(g[i], v);
    }
  }
  std::vector<std::vector<uint64_t>> shapes;
  size_t at = 0;
  for (const WriteLeaf& leaf : leaves) {
    std::vector<uint64_t> chunk;
    for (size_t d = 0; d < leaf.global_shape.size(); ++d, ++at) {
      const int64_t extent = leaf.global_shape[d];
      int64_t c = g[at];
      if (leaf.chunk_shape && d < leaf.chunk_shape->size() && (*leaf.chunk_shape)[d] > 0) {
        c = std::gcd(c, (*leaf.chunk_shape)[d]);
      }
      if (c == 0) c = extent;
      c = std::min(c, extent);
      chunk.push_back(static_cast<uint64_t>(std::max<int64_t>(c, 1)));
    }
    shapes.push_back(std::move(chunk));
  }
  return shapes;
}

ocdbt::ZarrArrayMetadata LeafMetadata(const WriteLeaf& leaf, std::vector<uint64_t> chunk) {
  std::vector<uint64_t> shape(leaf.global_shape.begin(), leaf.global_shape.end());
  ocdbt::ZarrArrayMetadata m =
      ocdbt::OrbaxZarrMetadata(leaf.dtype, std::move(shape), std::move(chunk), leaf.compress);
  if (leaf.compress) m.zstd_level = leaf.compression_level;
  return m;
}

// This rank's database: its chunks, and (on the primary) every leaf's zarr.json. Streams: each
// chunk goes to the data file as soon as it is encoded and each piece's bytes are released
// right after its chunks, so a rank holds one piece and one chunk's encoding at a time, plus a
// (key, file range) per chunk for the B+tree built at the end.
Status WriteProcessDatabase(const BackendContext& ctx, std::span<const WriteLeaf> leaves,
                            const std::vector<std::vector<uint64_t>>& chunks) {
  const std::filesystem::path root = ctx.item_dir / ProcessDatabaseName(ctx.comm->rank());
  ocdbt::WriteOptions options;
  if (ctx.save_options != nullptr && ctx.save_options->ocdbt_target_data_file_size) {
    options.target_data_file_size =
        static_cast<uint64_t>(*ctx.save_options->ocdbt_target_data_file_size);
  }
  CAIRN_ASSIGN_OR_RETURN(ocdbt::DatabaseBuilder db, ocdbt::DatabaseBuilder::Create(root, options));
  std::vector<ocdbt::NewLeafEntry> entries;
  ChunkEncoder encoder;
  const ChunkSink sink = [&](std::string key, std::span<const std::string_view> parts) -> Status {
    CAIRN_ASSIGN_OR_RETURN(ocdbt::StoredValue value, db.AppendValue(parts));
    entries.push_back({.key = std::move(key), .value = std::move(value)});
    return OkStatus();
  };
  for (size_t i = 0; i < leaves.size(); ++i) {
    const WriteLeaf& leaf = leaves[i];
    const ocdbt::ZarrArrayMetadata m = LeafMetadata(leaf, chunks[i]);
    const std::string& name = leaf.key_path;
    if (ctx.comm->rank() == ctx.primary) {
      CAIRN_ASSIGN_OR_RETURN(std::string text, ocdbt::EncodeZarrMetadata(m));
      const std::string_view part = text;
      CAIRN_RETURN_IF_ERROR(sink(name.empty() ? "zarr.json" : name + "/zarr.json",
                                 std::span<const std::string_view>(&part, 1)));
    }
    for (const WritePiece& piece : leaf.pieces) {
      CAIRN_ASSIGN_OR_RETURN(PieceBytes src, PieceBytes::Acquire(piece));
      CAIRN_RETURN_IF_ERROR(encoder.EncodePiece(name, m, piece.box, src.data(), sink));
    }  // src released here
  }
  std::sort(entries.begin(), entries.end(),
            [](const ocdbt::NewLeafEntry& a, const ocdbt::NewLeafEntry& b) {
              return a.key < b.key;
            });
  return db.Finish(std::move(entries)).status();
}

class OcdbtBackend final : public Backend {
 public:
  std::string_view name() const override { return "ocdbt"; }
  // Orbax's `_METADATA` takes the name; cairn's goes beside it.
  std::string_view item_metadata_file() const override { return "_CAIRN_METADATA"; }
  // Orbax stores scalars as 0-d arrays in the database.
  bool writes_scalars() const override { return true; }

  Status DescribeItem(const BackendContext& ctx, ItemMetadata& m) override {
    // The chunk grid actually written (restores read whole chunks at a time).
    for (cairn::LeafMetadata& leaf : m.leaves) {
      if (leaf.kind != "array") continue;
      auto it = chunks_.find(KeyPathString(leaf.key_path));
      if (it != chunks_.end()) leaf.chunk_shape = Shape(it->second.begin(), it->second.end());
    }
    const bool sharding = ctx.save_options == nullptr || ctx.save_options->enable_write_sharding_file;
    return WriteOrbaxItemFiles(ctx.item_dir, m, chunks_, sharding, ctx.file_mode);
  }

  Result<std::vector<std::vector<json>>> Write(const BackendContext& ctx,
                                               std::span<const WriteLeaf> leaves) override {
    Communicator& comm = *ctx.comm;
    Result<std::vector<std::vector<uint64_t>>> chunks = AgreeChunkShapes(comm, leaves);
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, chunks.status()));
    chunks_.clear();
    for (size_t i = 0; i < leaves.size(); ++i) chunks_[leaves[i].key_path] = (*chunks)[i];
    Status local = WriteProcessDatabase(ctx, leaves, *chunks);
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, local));
    if (comm.rank() == ctx.primary) {
      CAIRN_RETURN_IF_ERROR(MergeProcessDatabases(ctx.item_dir, comm.size()));
      if (ctx.save_options == nullptr || ctx.save_options->enable_post_merge_validation) {
        CAIRN_RETURN_IF_ERROR(ValidateMergedDatabase(ctx.item_dir, comm.size()));
      }
    }
    std::vector<std::vector<json>> locations(leaves.size());
    for (size_t i = 0; i < leaves.size(); ++i) {
      locations[i].assign(leaves[i].pieces.size(), json{{"process", comm.rank()}});
    }
    return locations;
  }

  Status Read(const BackendContext& ctx, std::span<const ReadLeaf> leaves) override {
    bool any = false;
    for (const ReadLeaf& leaf : leaves) any = any || !leaf.requests.empty();
    if (!any) return OkStatus();
    Result<ocdbt::ReadView> view = ocdbt::ReadView::Open(ctx.item_dir);
    if (!view.ok()) {
      return DataLossError("cannot open the OCDBT database of '" + ctx.item_dir.string() +
                           "': " + view.status().message());
    }
    for (const ReadLeaf& leaf : leaves) {
      if (leaf.requests.empty()) continue;
      const auto bad = [&](const Status& s) {
        return DataLossError("key '" + leaf.key_path + "' in '" + ctx.item_dir.string() +
                             "': " + s.message());
      };
      const std::string meta_key =
          leaf.key_path.empty() ? "zarr.json" : leaf.key_path + "/zarr.json";
      Result<std::optional<std::string>> text = view->Get(meta_key);
      if (!text.ok()) return bad(text.status());
      if (!text->has_value()) return bad(DataLossError("no " + meta_key + " in the database"));
      Result<ocdbt::ZarrArrayMetadata> m =
          ocdbt::ParseZarrMetadata(**text, ocdbt::Source{(ctx.item_dir / meta_key).string()});
      if (!m.ok()) return bad(m.status());
      const std::vector<uint64_t> want(leaf.global_shape.begin(), leaf.global_shape.end());
      if (m->dtype != leaf.dtype || m->shape != want) {
        return bad(DataLossError("stored array is " + std::string(DTypeName(m->dtype)) + " " +
                                 base::ShapeString(Shape(m->shape.begin(), m->shape.end())) +
                                 ", _METADATA says " + std::string(DTypeName(leaf.dtype)) + " " +
                                 base::ShapeString(leaf.global_shape)));
      }
      for (const ReadRequest& req : leaf.requests) {
        Status s = ReadZarrBox(*view, leaf.key_path, *m, req.box, req.dest);
        if (!s.ok()) return bad(s);
        if (req.on_filled) req.on_filled();
      }
    }
    return OkStatus();
  }

 private:
  std::map<std::string, std::vector<uint64_t>> chunks_;  // stored chunk shape per key path
};

}  // namespace

std::unique_ptr<Backend> MakeOcdbtBackend() { return std::make_unique<OcdbtBackend>(); }

}  // namespace cairn::storage
