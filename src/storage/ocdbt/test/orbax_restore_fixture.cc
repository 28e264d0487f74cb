// Restores a checkpoint that the real Orbax wrote (zarr3 + OCDBT) through cairn's public API, at
// as many ranks as it is started with, and writes what every rank restored to files that
// check_cairn_restored.py compares bit for bit with what Orbax saved (cairn_restores_orbax_np*).
//
//   orbax_restore_fixture CKPT OUT [--split rows|cols|rep] [--via checkpointer|manager]
//                         [--target-from CKPT2]
//
// CKPT is a step directory (ROOT/<step>, item `default/`) or a StandardCheckpointer directory
// (the item files at the top). The target tree is built from cairn::ReadItemMetadata(CKPT):
// every array leaf is split over the ranks along dim 0 (rows), along its last dim when it has
// two or more (cols; 1-d arrays are split by rows), or held whole by every rank (rep); the
// splits are uneven (rank r gets a share proportional to r + 1, so low ranks may get nothing).
// 0-d arrays are held whole by every rank. --via manager restores through CheckpointManager
// (root: CKPT's parent, step: CKPT's name) with StandardRestore; the default is
// Checkpointer::Restore(CKPT, tree). --target-from builds the target from CKPT2's metadata instead
// (a healthy copy, so that a damaged CKPT fails inside the collective Restore).
//
// Output, OUT created by the caller:
//   OUT/meta.json            (rank 0) per leaf: kind, dtype, shape, value (scalars, strings), as
//                            ReadItemMetadata gave them
//   OUT/<key>.bin            the whole array in C order, each rank pwrite()s the boxes it holds
//                            (for rep and 0-d leaves every rank writes its own copy into
//                            OUT/r<rank>/<key>.bin, so every rank's copy is checked)
//   OUT/values.r<rank>.json  every rank's restored scalars, strings and JSON leaves
// Exit 0 on success. On failure every rank prints "orbax_restore_fixture: rank R: ..." and the
// status to stderr and exits 1 (no MPI_Abort: the ranks must agree on the failure themselves).
#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cairn/cairn.hpp"
#include "cairn/mpi.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

int g_rank = 0;

// Uneven: rank r's share is proportional to r + 1.
void Split(int64_t n, int size, int rank, int64_t& begin, int64_t& count) {
  const int64_t total = static_cast<int64_t>(size) * (size + 1) / 2;
  const auto bound = [&](int r) { return n * (static_cast<int64_t>(r) * (r + 1) / 2) / total; };
  begin = bound(rank);
  count = bound(rank + 1) - begin;
}

int Fail(const std::string& what, const cairn::Status& s) {
  std::fprintf(stderr, "orbax_restore_fixture: rank %d: %s: %s\n", g_rank, what.c_str(),
               s.ToString().c_str());
  std::fflush(stderr);
  return 1;
}

int FailText(const std::string& what) {
  std::fprintf(stderr, "orbax_restore_fixture: rank %d: %s\n", g_rank, what.c_str());
  std::fflush(stderr);
  return 1;
}

json ScalarJson(const cairn::Scalar& s) {
  using cairn::DType;
  const uint64_t b = s.bits();
  auto as = [&](auto v) {
    std::memcpy(&v, &b, sizeof(v));
    return v;
  };
  switch (s.dtype()) {
    case DType::kBool:
      return as(uint8_t{}) != 0;
    case DType::kInt8:
      return as(int8_t{});
    case DType::kInt16:
      return as(int16_t{});
    case DType::kInt32:
      return as(int32_t{});
    case DType::kInt64:
      return as(int64_t{});
    case DType::kUint8:
      return as(uint8_t{});
    case DType::kUint16:
      return as(uint16_t{});
    case DType::kUint32:
      return as(uint32_t{});
    case DType::kUint64:
      return as(uint64_t{});
    case DType::kFloat32:
      return as(float{});
    case DType::kFloat64:
      return as(double{});
    default:
      return json{{"bits", b}};
  }
}

// Writes `box` (its elements packed in C order in `data`) into the C-order file of the whole
// array `shape` at `path`.
bool WriteBox(const fs::path& path, const cairn::Shape& shape, size_t esz, const cairn::Box& box,
              const void* data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
  if (fd < 0) return false;
  bool ok = true;
  const auto* src = static_cast<const char*>(data);
  const size_t nd = shape.size();
  if (nd == 0) {
    ok = ::pwrite(fd, src, esz, 0) == static_cast<ssize_t>(esz);
  } else if (box.NumElements() > 0) {
    // Iterate over the box's rows (every index but the last); each row is contiguous in the file.
    const int64_t row = box.shape[nd - 1];
    std::vector<int64_t> idx(nd - 1, 0);
    for (;;) {
      int64_t off = 0;
      for (size_t d = 0; d < nd; ++d) {
        off = off * shape[d] + box.origin[d] + (d + 1 < nd ? idx[d] : 0);
      }
      const size_t n = static_cast<size_t>(row) * esz;
      if (::pwrite(fd, src, n, off * static_cast<int64_t>(esz)) != static_cast<ssize_t>(n)) {
        ok = false;
        break;
      }
      src += n;
      size_t d = nd - 1;
      while (d > 0 && ++idx[d - 1] == box.shape[d - 1]) idx[--d] = 0;
      if (d == 0) break;
    }
  }
  return ::close(fd) == 0 && ok;
}

cairn::Status RestoreTree(const std::shared_ptr<cairn::Communicator>& comm, const fs::path& ckpt,
                          const std::string& via, cairn::Tree& tree) {
  if (via == "manager") {
    cairn::CheckpointManagerOptions o;
    o.read_only = true;
    o.create = false;
    auto mgr = cairn::CheckpointManager::Create(comm, ckpt.parent_path(), o);
    if (!mgr.ok()) return mgr.status();
    return (*mgr)->Restore(std::atoll(ckpt.filename().c_str()),
                           cairn::StandardRestore{.item = &tree});
  }
  auto ckptr = cairn::Checkpointer::Create(comm);
  if (!ckptr.ok()) return ckptr.status();
  return ckptr->Restore(ckpt, tree).status();
}

// Everything cairn (the communicator, checkpointers) lives and dies in here, before
// MPI_Finalize.
int Run(int argc, char** argv, int size) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: orbax_restore_fixture CKPT OUT [--split rows|cols|rep] "
                 "[--via checkpointer|manager] [--target-from CKPT2]\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const fs::path ckpt = fs::absolute(argv[1]).lexically_normal(), out = argv[2];
  std::string split = "rows", via = "checkpointer";
  fs::path target_from = ckpt;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--split" && (v == "rows" || v == "cols" || v == "rep"))
      split = v;
    else if (k == "--via" && (v == "checkpointer" || v == "manager"))
      via = v;
    else if (k == "--target-from")
      target_from = fs::absolute(v).lexically_normal();
    else {
      std::fprintf(stderr, "orbax_restore_fixture: bad option %s %s\n", k.c_str(), v.c_str());
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
  }
  auto comm = cairn::MpiCommunicator(MPI_COMM_WORLD);
  if (!comm.ok()) return Fail("MpiCommunicator", comm.status());

  // Local, no MPI: every rank reads the same files.
  auto meta = cairn::ReadItemMetadata(target_from, "default");
  if (!meta.ok()) return Fail("ReadItemMetadata(" + target_from.string() + ")", meta.status());
  cairn::Tree tree = meta->ToTree();

  json meta_json = json::object();
  for (const auto& leaf : meta->leaves) {
    json j = {{"kind", leaf.kind}};
    if (leaf.kind == "array" || leaf.kind == "scalar") {
      j["dtype"] = std::string(cairn::DTypeName(leaf.dtype));
    }
    if (leaf.kind == "array") j["shape"] = leaf.global_shape;
    if (leaf.value.has_value()) {
      if (const auto* s = std::get_if<cairn::Scalar>(&*leaf.value)) j["value"] = ScalarJson(*s);
      if (const auto* s = std::get_if<std::string>(&*leaf.value)) j["value"] = *s;
    }
    meta_json[cairn::KeyPathString(leaf.key_path)] = j;
  }

  // Target pieces, and the memory they point at.
  std::deque<std::vector<char>> buffers;
  struct Placed {
    std::string key;
    bool per_rank;  // every rank holds the whole array: written to r<rank>/
  };
  std::vector<Placed> placed;
  std::string bad;
  tree.ForEachLeaf([&](const cairn::KeyPath& path, cairn::Leaf& leaf) {
    auto* a = std::get_if<cairn::DistributedArray>(&leaf);
    if (a == nullptr) return;
    const size_t nd = a->global_shape.size();
    const size_t esz = cairn::DTypeSize(a->dtype);
    a->pieces.clear();
    cairn::Box box{.origin = std::vector<int64_t>(nd, 0), .shape = a->global_shape};
    bool per_rank = nd == 0 || split == "rep";
    if (!per_rank) {
      const size_t dim = split == "cols" && nd >= 2 ? nd - 1 : 0;
      int64_t begin = 0, count = 0;
      Split(a->global_shape[dim], size, g_rank, begin, count);
      box.origin[dim] = begin;
      box.shape[dim] = count;
    }
    if (nd > 0 && box.NumElements() == 0 && !per_rank) {
      placed.push_back({cairn::KeyPathString(path), false});
      return;  // this rank holds nothing of it
    }
    buffers.emplace_back(static_cast<size_t>(std::max<int64_t>(box.NumElements(), 1)) * esz,
                         char{0x5a});  // not zero: a piece left unfilled shows
    a->pieces.push_back({.box = box, .data = buffers.back().data()});
    placed.push_back({cairn::KeyPathString(path), per_rank});
    if (esz == 0) bad = "dtype size 0";
  });
  if (!bad.empty()) return FailText(bad);

  const cairn::Status restored = RestoreTree(*comm, ckpt, via, tree);
  if (!restored.ok()) return Fail("restore of " + ckpt.string() + " via " + via, restored);

  std::error_code ec;
  fs::create_directories(out / ("r" + std::to_string(g_rank)), ec);
  if (g_rank == 0) std::ofstream(out / "meta.json") << meta_json.dump(1) << "\n";
  json values = json::object();
  size_t next = 0;
  tree.ForEachLeaf([&](const cairn::KeyPath& path, const cairn::Leaf& leaf) {
    const std::string key = cairn::KeyPathString(path);
    if (const auto* a = std::get_if<cairn::DistributedArray>(&leaf)) {
      const Placed& p = placed.at(next++);
      if (p.key != key) bad = "leaf order changed at " + key;
      const fs::path file =
          p.per_rank ? out / ("r" + std::to_string(g_rank)) / (key + ".bin") : out / (key + ".bin");
      const size_t esz = cairn::DTypeSize(a->dtype);
      if (a->pieces.empty()) {
        // Holds nothing; still create the file (an empty array has no pieces anywhere).
        const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT, 0644);
        if (fd >= 0) ::close(fd);
      }
      for (const auto& piece : a->pieces) {
        if (!WriteBox(file, a->global_shape, esz, piece.box, piece.data)) {
          bad = "cannot write " + file.string() + ": " + std::strerror(errno);
        }
      }
    } else if (const auto* s = std::get_if<cairn::Scalar>(&leaf)) {
      values[key] = {{"kind", "scalar"},
                     {"dtype", std::string(cairn::DTypeName(s->dtype()))},
                     {"value", ScalarJson(*s)}};
    } else if (const auto* str = std::get_if<std::string>(&leaf)) {
      values[key] = {{"kind", "string"}, {"value", *str}};
    } else {
      values[key] = {{"kind", "json"}, {"value", std::get<json>(leaf)}};
    }
  });
  if (!bad.empty()) return FailText(bad);
  std::ofstream(out / ("values.r" + std::to_string(g_rank) + ".json")) << values.dump(1) << "\n";
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) {
    std::printf("orbax_restore_fixture: %s restored at %d ranks (%s, via %s)\n", ckpt.c_str(), size,
                split.c_str(), via.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0, size = 1;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int rc = Run(argc, argv, size);
  MPI_Finalize();
  return rc;
}
