// Backend::Read for HDF5: a collective open, then independent hyperslab reads (ranks hold
// different numbers of requests).
//
// H5Fopen and H5Fclose are collective. When every rank lists the same leaves (the usual case,
// checked with one allreduce), the dataset opens are collective metadata reads too: one rank
// reads each object header and broadcasts it instead of every rank reading it. Errors are
// collected per leaf without leaving that sequence, and the first one is returned at the end.
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/box_ops.h"
#include "comm/mpi_native.h"
#include "storage/hdf5/h5_util.h"
#include "storage/hdf5/hdf5_io.h"
#include "storage/hdf5/hdf5_types.h"
#include "storage/hdf5/zstd_filter.h"

namespace cairn::storage::hdf5 {
namespace {

namespace fs = std::filesystem;

std::string Where(const fs::path& file, const ReadLeaf& leaf) {
  return "hdf5 file " + file.string() + ", key " + leaf.key_path;
}

Status DataLoss(const fs::path& file, const ReadLeaf& leaf, const std::string& what) {
  return DataLossError(Where(file, leaf) + ": " + what);
}

// FNV-1a over the key paths, to tell whether every rank lists the same leaves.
int64_t LeavesHash(std::span<const ReadLeaf> leaves) {
  uint64_t h = 1469598103934665603ull;
  for (const ReadLeaf& leaf : leaves) {
    for (unsigned char c : leaf.key_path + '\0') h = (h ^ c) * 1099511628211ull;
  }
  return static_cast<int64_t>(h >> 1);
}

std::string TypeClassName(H5T_class_t cls) {
  switch (cls) {
    case H5T_INTEGER:
      return "integer";
    case H5T_FLOAT:
      return "float";
    case H5T_ENUM:
      return "enum";
    case H5T_COMPOUND:
      return "compound";
    case H5T_STRING:
      return "string";
    default:
      return "class " + std::to_string(static_cast<int>(cls));
  }
}

Status ValidateRequest(const ReadLeaf& leaf, const ReadRequest& req) {
  const size_t rank = leaf.global_shape.size();
  if (req.box.origin.size() != rank || req.box.shape.size() != rank ||
      !base::WithinShape(req.box, leaf.global_shape)) {
    return InvalidArgumentError("request " + req.box.ToString() + " is not within global shape " +
                                ShapeString(leaf.global_shape));
  }
  if (req.dest == nullptr && req.box.NumElements() > 0) {
    return InvalidArgumentError("request " + req.box.ToString() + " has no destination");
  }
  return OkStatus();
}

// Opens one leaf's dataset and checks it is what the metadata promised.
Result<h5::Handle> OpenLeaf(hid_t file_h, hid_t dapl, const fs::path& file, const ReadLeaf& leaf,
                            hid_t mem_type) {
  Result<h5::Handle> ds = h5::OpenDataset(file_h, DatasetPath(leaf.segments), dapl);
  if (!ds.ok())
    return DataLoss(file, leaf, "dataset missing or unreadable: " + ds.status().message());
  CAIRN_ASSIGN_OR_RETURN(h5::Handle space, h5::DatasetSpace(ds->id()));
  Result<std::vector<hsize_t>> extent = h5::SpaceExtent(space.id());
  if (!extent.ok()) return DataLoss(file, leaf, extent.status().message());
  if (*extent != ToHsize(leaf.global_shape)) {
    const Shape found(extent->begin(), extent->end());
    return DataLoss(
        file, leaf,
        "expected shape " + ShapeString(leaf.global_shape) + ", found " + ShapeString(found));
  }
  CAIRN_ASSIGN_OR_RETURN(h5::Handle type, h5::DatasetType(ds->id()));
  CAIRN_ASSIGN_OR_RETURN(const size_t size, h5::TypeSize(type.id()));
  CAIRN_ASSIGN_OR_RETURN(const H5T_class_t cls, h5::TypeClass(type.id()));
  CAIRN_ASSIGN_OR_RETURN(const H5T_class_t want_cls, h5::TypeClass(mem_type));
  if (size != DTypeSize(leaf.dtype) || cls != want_cls) {
    return DataLoss(file, leaf,
                    "expected " + std::string(DTypeName(leaf.dtype)) + " (" +
                        TypeClassName(want_cls) + ", " + std::to_string(DTypeSize(leaf.dtype)) +
                        " bytes), found " + TypeClassName(cls) + " of " + std::to_string(size) +
                        " bytes");
  }
  return ds;
}

Status ReadRequestData(hid_t dataset, hid_t mem_type, hid_t dxpl, const ReadRequest& req) {
  CAIRN_ASSIGN_OR_RETURN(h5::Handle file_space, h5::DatasetSpace(dataset));
  CAIRN_RETURN_IF_ERROR(
      h5::SelectBox(file_space.id(), ToHsize(req.box.origin), ToHsize(req.box.shape)));
  CAIRN_ASSIGN_OR_RETURN(h5::Handle mem, h5::CreateSpace(ToHsize(req.box.shape)));
  return h5::ReadDataset(dataset, mem_type, mem.id(), file_space.id(), dxpl, req.dest);
}

// Reads every request of one leaf from an open file; the first error, named.
Status ReadLeafData(hid_t file_h, hid_t dapl, hid_t dxpl, const fs::path& file,
                    const ReadLeaf& leaf) {
  CAIRN_RETURN_IF_ERROR(ValidateSegments(leaf.segments).WithContext(Where(file, leaf)));
  CAIRN_ASSIGN_OR_RETURN(h5::Handle mem_type, StoredType(leaf.dtype));
  CAIRN_ASSIGN_OR_RETURN(h5::Handle ds, OpenLeaf(file_h, dapl, file, leaf, mem_type.id()));
  Status first;
  for (const ReadRequest& req : leaf.requests) {
    Status s = ValidateRequest(leaf, req);
    if (s.ok() && req.box.NumElements() > 0) {
      s = ReadRequestData(ds.id(), mem_type.id(), dxpl, req);
      if (!s.ok()) s = DataLoss(file, leaf, "reading " + req.box.ToString() + ": " + s.message());
      if (s.ok() && req.on_filled) req.on_filled();
    } else if (!s.ok()) {
      s = s.WithContext(Where(file, leaf));
    }
    if (first.ok() && !s.ok()) first = s;
  }
  Status closed = ds.Close();
  if (first.ok() && !closed.ok()) first = DataLoss(file, leaf, closed.message());
  return first;
}

}  // namespace

Status ReadItem(const BackendContext& ctx, std::span<const ReadLeaf> leaves) {
  if (ctx.comm == nullptr) return InvalidArgumentError("hdf5 backend: no communicator");
  const fs::path file = ctx.item_dir / kDataFileName;
  const MPI_Comm comm = comm::NativeMpiComm(*ctx.comm);
  const bool parallel = comm != MPI_COMM_NULL;

  // Whether anyone reads at all (a rank with no leaves still joins the collective open), and
  // whether all ranks list the same leaves.
  bool uniform = true;
  if (parallel) {
    // One allreduce of {n, h, -h} gives the largest leaf count and whether all hashes agree.
    const auto n = static_cast<int64_t>(leaves.size());
    const int64_t h = LeavesHash(leaves);
    std::vector<int64_t> v = {n, h, -h};
    CAIRN_RETURN_IF_ERROR(ctx.comm->AllReduceMax(v));
    if (v[0] == 0) return OkStatus();
    uniform = v[0] == n && v[1] == h && v[2] == -h;
  } else if (leaves.empty()) {
    return OkStatus();
  }

  std::lock_guard<std::recursive_mutex> lock(Hdf5Mutex());
  // Filters are looked up when a chunk is read; register ours for compressed items. A failure
  // here surfaces as a read error naming the dataset.
  RegisterZstdFilter().IgnoreError();

  const std::string first_key =
      leaves.empty() ? std::string("(none on this rank)") : leaves.front().key_path;
  auto open_error = [&](const Status& s) {
    return DataLossError("hdf5 file " + file.string() + " (reading key " + first_key +
                         "): cannot open: " + s.message());
  };
  CAIRN_ASSIGN_OR_RETURN(h5::Handle fapl, h5::CreatePropList(H5P_FILE_ACCESS));
  CAIRN_ASSIGN_OR_RETURN(h5::Handle dapl, h5::CreatePropList(H5P_DATASET_ACCESS));
  CAIRN_ASSIGN_OR_RETURN(h5::Handle dxpl, h5::CreatePropList(H5P_DATASET_XFER));
  if (parallel) {
    CAIRN_RETURN_IF_ERROR(h5::SetFaplMpio(fapl.id(), comm));
    CAIRN_RETURN_IF_ERROR(h5::SetCollectiveMetadataOps(dapl.id(), uniform));
    CAIRN_RETURN_IF_ERROR(h5::SetTransferMode(dxpl.id(), /*collective=*/false));
  }
  Result<h5::Handle> file_h = h5::OpenFileReadOnly(file, fapl.id());
  if (!file_h.ok()) return open_error(file_h.status());

  Status first;
  for (const ReadLeaf& leaf : leaves) {
    Status s = ReadLeafData(file_h->id(), dapl.id(), dxpl.id(), file, leaf);
    if (first.ok() && !s.ok()) first = s;
  }
  Status closed = file_h->Close();
  if (first.ok() && !closed.ok()) first = open_error(closed);
  return first;
}

}  // namespace cairn::storage::hdf5
