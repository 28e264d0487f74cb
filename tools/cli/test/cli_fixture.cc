// Writes checkpoints for the `cairn` CLI tests (tools/cli/test/*.sh): a CheckpointManager root
// with steps 1..N, each holding a tree of every kind of leaf, decomposed over the ranks.
//
//   cli_fixture ROOT [--backend hdf5|reference] [--compression 0|1] [--steps N] [--keep K]
//                    [--trash SUBDIR] [--perturb KEY] [--big ROWS]
//                    [--target-data-file-size BYTES] [--chunk-bytes BYTES] [--extra 0|1]
//                    [--use-ocdbt 0|1]
//
// Values depend only on the step and the element index, never on the rank count, so fixtures
// written at different rank counts hold equal arrays. --perturb KEY adds 0.5 to element 7 of that
// float leaf (params.w or params.b) in every step. --big ROWS makes params.w ROWS x 23 (for
// bounded-memory runs). --target-data-file-size sets
// SaveOptions.array.ocdbt_target_data_file_size (ocdbt backend: several data files), --chunk-bytes
// SaveOptions.array.storage_options.chunk_byte_size, --use-ocdbt 1 SaveOptions.array.use_ocdbt
// (without --backend: the ocdbt backend chosen by that flag). --extra 1 adds the leaves `extra.*` (for the
// Orbax interop tests, src/storage/ocdbt/test): a float16 array whose row blocks are each held by a
// pair of ranks (partly replicated), an odd uint8 (3,) split over the ranks (some hold nothing),
// an int64 (7, 5) split along its last dimension, a 0-d float64 held by the last rank only, a list
// of two arrays, an int32 scalar, a JSON leaf, and a float32 (1003,) cut into 3 x ranks uneven
// blocks dealt out cyclically (so the ocdbt backend assembles chunks from parts held by
// different ranks). Exit 0 on success; on failure prints the error
// and exits 1 on every rank.
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/convert.h"
#include "cairn/cairn.hpp"
#include "cairn/mpi.h"

namespace {

void Split(int64_t n, int size, int rank, int64_t& begin, int64_t& count) {
  count = n / size + (rank < n % size ? 1 : 0);
  begin = rank * (n / size) + std::min<int64_t>(rank, n % size);
}

int Fail(const std::string& what, const cairn::Status& s) {
  std::fprintf(stderr, "cli_fixture: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 2) {
    std::fprintf(stderr, "usage: cli_fixture ROOT [options]\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  std::string root = argv[1], backend = "hdf5", trash, perturb;
  bool compression = true;
  int steps = 2;
  int64_t keep = 0, rows = 37, target_data_file_size = 0, chunk_bytes = 0;
  bool extra = false, use_ocdbt = false;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--backend") backend = v;
    else if (k == "--compression") compression = v != "0";
    else if (k == "--steps") steps = std::atoi(v.c_str());
    else if (k == "--keep") keep = std::atoll(v.c_str());
    else if (k == "--trash") trash = v;
    else if (k == "--perturb") perturb = v;
    else if (k == "--big") rows = std::atoll(v.c_str());
    else if (k == "--target-data-file-size") target_data_file_size = std::atoll(v.c_str());
    else if (k == "--chunk-bytes") chunk_bytes = std::atoll(v.c_str());
    else if (k == "--extra") extra = v != "0";
    else if (k == "--use-ocdbt") use_ocdbt = v != "0";
    else {
      std::fprintf(stderr, "cli_fixture: unknown option %s\n", k.c_str());
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
  }
  auto comm = cairn::MpiCommunicator(MPI_COMM_WORLD);
  if (!comm.ok()) return Fail("MpiCommunicator", comm.status());
  cairn::CheckpointManagerOptions o;
  o.save_options.backend = backend;
  o.save_options.array.use_compression = compression;
  if (target_data_file_size > 0) {
    o.save_options.array.ocdbt_target_data_file_size = target_data_file_size;
  }
  if (chunk_bytes > 0) o.save_options.array.storage_options.chunk_byte_size = chunk_bytes;
  if (use_ocdbt) o.save_options.array.use_ocdbt = true;
  if (keep > 0) o.max_to_keep = keep;
  if (!trash.empty()) o.deletion_options.todelete_subdir = trash;
  auto mgr = cairn::CheckpointManager::Create(*comm, root, o);
  if (!mgr.ok()) return Fail("CheckpointManager::Create", mgr.status());

  constexpr int64_t kCols = 23;
  int64_t r0 = 0, nr = 0, c0 = 0, nc = 0;
  Split(rows, size, rank, r0, nr);
  Split(7, size, rank, c0, nc);
  for (int64_t step = 1; step <= steps; ++step) {
    // params.w: rows x 23 float32, row blocks. params.b: 23 float64, replicated on every rank.
    std::vector<float> w(nr * kCols);
    for (int64_t i = 0; i < nr; ++i) {
      for (int64_t j = 0; j < kCols; ++j) {
        const int64_t g = (r0 + i) * kCols + j;
        w[i * kCols + j] = static_cast<float>(step) + 0.001f * static_cast<float>(g % 9973);
        if (perturb == "params.w" && g == 7) w[i * kCols + j] += 0.5f;
      }
    }
    std::vector<double> b(kCols);
    for (int64_t j = 0; j < kCols; ++j) b[j] = step * 10.0 + j;
    if (perturb == "params.b") b[7] += 0.5;
    // emb: 16 x 8 bfloat16, replicated. counts: 5 x 7 x 3 int32, blocks of the middle dimension.
    std::vector<uint16_t> emb(16 * 8);
    for (size_t i = 0; i < emb.size(); ++i) {
      emb[i] = cairn::base::FloatToBfloat16(static_cast<float>(i) * 0.25f - step);
    }
    std::vector<int32_t> counts(5 * nc * 3);
    for (int64_t a = 0; a < 5; ++a) {
      for (int64_t m = 0; m < nc; ++m) {
        for (int64_t z = 0; z < 3; ++z) {
          counts[(a * nc + m) * 3 + z] = static_cast<int32_t>(((a * 7 + c0 + m) * 3 + z) * step);
        }
      }
    }
    std::vector<uint8_t> flags = {1, 0, 1, 1, 0, 0, 1, 0, 1};
    cairn::Tree t;
    t["params"]["w"] = cairn::DistributedArray{
        .dtype = cairn::DType::kFloat32,
        .global_shape = {rows, kCols},
        .pieces = {{.box = {.origin = {r0, 0}, .shape = {nr, kCols}}, .data = w.data()}}};
    t["params"]["b"] = cairn::DistributedArray::Replicated(cairn::DType::kFloat64, {kCols}, b.data());
    t["emb"] = cairn::DistributedArray::Replicated(cairn::DType::kBfloat16, {16, 8}, emb.data());
    t["counts"] = cairn::DistributedArray{
        .dtype = cairn::DType::kInt32,
        .global_shape = {5, 7, 3},
        .pieces = {{.box = {.origin = {0, c0, 0}, .shape = {5, nc, 3}}, .data = counts.data()}}};
    t["flags"] = cairn::DistributedArray::Replicated(cairn::DType::kBool, {9}, flags.data());
    // A 0-d array and an empty one (odd cases for every reader and writer).
    float zero_d = 0.5f * static_cast<float>(step);
    t["zero_d"] = cairn::DistributedArray::Replicated(cairn::DType::kFloat32, {}, &zero_d);
    int8_t none = 0;
    t["empty"] = cairn::DistributedArray::Replicated(cairn::DType::kInt8, {0, 4}, &none);
    t["step"] = cairn::Scalar(step);
    t["lr"] = cairn::Scalar(0.125 / step);
    t["note"] = std::string("fixture");
    // --extra: odd decompositions and leaf kinds (see the top). Their buffers outlive the save.
    std::vector<uint16_t> partrep;
    std::vector<uint8_t> odd_u8;
    std::vector<int64_t> i64;
    std::vector<float> layer0(2 * 3), layer1(3);
    double f64_0d = -1.5 * static_cast<double>(step);
    std::vector<std::vector<float>> cyclic(3);
    if (extra) {
      cairn::DistributedArray ca{.dtype = cairn::DType::kFloat32, .global_shape = {1003}};
      for (int k = 0; k < 3; ++k) {
        int64_t c0 = 0, nc = 0;
        Split(1003, 3 * size, k * size + rank, c0, nc);
        for (int64_t i = 0; i < nc; ++i) cyclic[k].push_back(0.25f * (c0 + i) - step);
        ca.pieces.push_back({.box = {.origin = {c0}, .shape = {nc}}, .data = cyclic[k].data()});
      }
      t["extra"]["cyclic"] = ca;
      const int groups = (size + 1) / 2;
      int64_t p0 = 0, np_rows = 0;
      Split(11, groups, rank / 2, p0, np_rows);
      partrep.resize(np_rows * 6);
      for (int64_t i = 0; i < np_rows * 6; ++i) {
        // float16 bit patterns of small integers and halves: 0x3c00 is 1.0.
        partrep[i] = static_cast<uint16_t>(0x3c00 + ((p0 * 6 + i) * 37 + step * 5) % 1024);
      }
      cairn::DistributedArray pa{.dtype = cairn::DType::kFloat16, .global_shape = {11, 6}};
      if (np_rows > 0) {
        pa.pieces.push_back(
            {.box = {.origin = {p0, 0}, .shape = {np_rows, 6}}, .data = partrep.data()});
      }
      t["extra"]["partrep"] = pa;
      int64_t u0 = 0, nu = 0;
      Split(3, size, rank, u0, nu);
      for (int64_t i = 0; i < nu; ++i) odd_u8.push_back(static_cast<uint8_t>(200 + u0 + i + step));
      cairn::DistributedArray ua{.dtype = cairn::DType::kUint8, .global_shape = {3}};
      if (nu > 0)
        ua.pieces.push_back({.box = {.origin = {u0}, .shape = {nu}}, .data = odd_u8.data()});
      t["extra"]["odd_u8"] = ua;
      int64_t k0 = 0, nk = 0;
      Split(5, size, rank, k0, nk);
      for (int64_t i = 0; i < 7; ++i) {
        for (int64_t j = 0; j < nk; ++j) {
          i64.push_back((int64_t{1} << 40) * (step + 1) - (i * 5 + k0 + j) * 1000003);
        }
      }
      cairn::DistributedArray ia{.dtype = cairn::DType::kInt64, .global_shape = {7, 5}};
      if (nk > 0)
        ia.pieces.push_back({.box = {.origin = {0, k0}, .shape = {7, nk}}, .data = i64.data()});
      t["extra"]["i64"] = ia;
      cairn::DistributedArray za{.dtype = cairn::DType::kFloat64, .global_shape = {}};
      if (rank == size - 1) za.pieces.push_back({.box = {}, .data = &f64_0d});
      t["extra"]["f64_0d"] = za;
      for (size_t i = 0; i < layer0.size(); ++i) layer0[i] = static_cast<float>(i) + step;
      for (size_t i = 0; i < layer1.size(); ++i) layer1[i] = -static_cast<float>(i) - step;
      cairn::Tree layers = cairn::Tree::MakeList();
      layers.Append(
          cairn::DistributedArray::Replicated(cairn::DType::kFloat32, {2, 3}, layer0.data()));
      layers.Append(
          cairn::DistributedArray::Replicated(cairn::DType::kFloat32, {3}, layer1.data()));
      t["extra"]["layers"] = layers;
      t["extra"]["i32"] = cairn::Scalar(static_cast<int32_t>(-5 * step));
      t["extra"]["cfg"] = cairn::Tree::Json({{"a", step}, {"b", {1, 2, "x"}}, {"c", nullptr}});
    }
    cairn::StepSaveParams params;
    params.metrics = nlohmann::json{{"loss", 1.0 / step}};
    auto saved = (*mgr)->Save(
        step,
        cairn::Composite{{"default", cairn::StandardSave{t}},
                         {"config", cairn::JsonSave{{{"rows", rows}, {"backend", backend}}}}},
        params);
    if (!saved.ok()) return Fail("Save " + std::to_string(step), saved.status());
  }
  cairn::Status s = (*mgr)->WaitUntilFinished();
  if (!s.ok()) return Fail("WaitUntilFinished", s);
  (*mgr).reset();
  MPI_Finalize();
  return 0;
}
