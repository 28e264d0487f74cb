// A program outside the cairn tree, built against an installed cairn (pkg-config or CMake's
// find_package) by install_test.sh: saves a distributed array on every rank, restores it with
// the rows split the other way round, checks every value, prints "OK" on rank 0.
// Usage: consumer DIRECTORY
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "cairn/checkpointer.h"
#include "cairn/mpi.h"

namespace {

int Fail(int rank, const char* what, const cairn::Status& status) {
  std::fprintf(stderr, "rank %d: %s: %s\n", rank, what, status.ToString().c_str());
  return 1;
}

int Run(const char* directory, int rank, int size) {
  auto comm = cairn::MpiCommunicator(MPI_COMM_WORLD);
  if (!comm.ok()) return Fail(rank, "MpiCommunicator", comm.status());
  auto ckpt = cairn::Checkpointer::Create(*comm);
  if (!ckpt.ok()) return Fail(rank, "Checkpointer::Create", ckpt.status());

  // A global (2 * size) x 8 float64 array; rank r writes rows [2r, 2r + 2).
  const int64_t rows = 2 * size, cols = 8;
  std::vector<double> mine(2 * cols);
  for (int64_t i = 0; i < 2 * cols; ++i) mine[i] = double(2 * rank * cols + i);
  cairn::Tree state;
  state["w"] = cairn::DistributedArray{
      .dtype = cairn::DType::kFloat64,
      .global_shape = {rows, cols},
      .pieces = {{.box = {.origin = {2 * rank, 0}, .shape = {2, cols}}, .data = mine.data()}}};
  state["step"] = cairn::Scalar(int64_t{42});
  if (auto s = ckpt->Save(directory, state); !s.ok()) return Fail(rank, "Save", s);

  // Restore the rows of rank (size - 1 - r) into rank r.
  const int64_t from = 2 * (size - 1 - rank);
  std::vector<double> theirs(2 * cols, -1.0);
  cairn::Tree target;
  target["w"] = cairn::DistributedArray{
      .dtype = cairn::DType::kFloat64,
      .global_shape = {rows, cols},
      .pieces = {{.box = {.origin = {from, 0}, .shape = {2, cols}}, .data = theirs.data()}}};
  target["step"] = cairn::Scalar(int64_t{0});
  auto restored = ckpt->Restore(directory, target);
  if (!restored.ok()) return Fail(rank, "Restore", restored.status());

  int bad = 0;
  for (int64_t i = 0; i < 2 * cols; ++i) bad += theirs[i] != double(from * cols + i);
  const auto step = std::get<cairn::Scalar>(target["step"].leaf()).as<int64_t>();
  if (bad != 0 || step != 42) {
    std::fprintf(stderr, "rank %d: %d wrong values, step %lld\n", rank, bad, (long long)step);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int failed = argc != 2 ? 1 : Run(argv[1], rank, size);
  if (argc != 2 && rank == 0) std::fprintf(stderr, "usage: consumer DIRECTORY\n");
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (failed == 0 && rank == 0) std::printf("OK %d ranks\n", size);
  MPI_Finalize();
  return failed;
}
