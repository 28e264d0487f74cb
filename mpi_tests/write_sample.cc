// Writes a small checkpoint with known values, for the h5py / h5dump interop test.
// Usage: write_sample DIR [compression:0|1]
#include <mpi.h>

#include <complex>
#include <cstdio>
#include <cstdlib>

#include "base/convert.h"
#include "cairn/cairn.hpp"
#include "cairn/mpi.h"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: write_sample DIR [compression]\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  const bool compression = argc > 2 && std::atoi(argv[2]) != 0;
  auto comm = cairn::MpiCommunicator(MPI_COMM_WORLD);
  const int rank = (*comm)->rank(), size = (*comm)->size();
  // kernel: 6x4 float32, value = 4*i + j, row blocks.
  const int64_t rows = 6 / size + (rank < 6 % size ? 1 : 0);
  const int64_t row0 = rank * (6 / size) + std::min(rank, 6 % size);
  std::vector<float> kernel(rows * 4);
  for (int64_t i = 0; i < rows; ++i) {
    for (int j = 0; j < 4; ++j) kernel[i * 4 + j] = static_cast<float>(4 * (row0 + i) + j);
  }
  cairn::DistributedArray k{cairn::DType::kFloat32, {6, 4}, {{{{row0, 0}, {rows, 4}}, kernel.data()}}};
  std::vector<uint8_t> flags = {1, 0, 1};
  std::vector<std::complex<float>> c = {{1, 2}, {3, -4}};
  std::vector<uint16_t> bf = {cairn::base::FloatToBfloat16(1.5f), cairn::base::FloatToBfloat16(-2.0f)};
  std::vector<uint16_t> half = {cairn::base::FloatToHalf(0.5f), cairn::base::FloatToHalf(3.0f)};
  std::vector<int64_t> big = {1ll << 40, -7};
  cairn::Tree tree;
  tree["params"]["dense"]["kernel"] = k;
  tree["flags"] = cairn::DistributedArray::Replicated(cairn::DType::kBool, {3}, flags.data());
  tree["c"] = cairn::DistributedArray::Replicated(cairn::DType::kComplex64, {2}, c.data());
  tree["bf"] = cairn::DistributedArray::Replicated(cairn::DType::kBfloat16, {2}, bf.data());
  tree["half"] = cairn::DistributedArray::Replicated(cairn::DType::kFloat16, {2}, half.data());
  tree["big"] = cairn::DistributedArray::Replicated(cairn::DType::kInt64, {2}, big.data());
  tree["step"] = cairn::Scalar(int64_t{42});
  auto ckpt = cairn::Checkpointer::Create(*comm);
  cairn::Status st = ckpt->Save(argv[1], tree, {.array = {.use_compression = compression}});
  if (!st.ok()) std::fprintf(stderr, "rank %d: %s\n", rank, st.ToString().c_str());
  MPI_Finalize();
  return st.ok() ? 0 : 1;
}
