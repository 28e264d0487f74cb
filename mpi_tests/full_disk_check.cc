// A save onto a full file system fails on every rank with an error naming the file, leaves no
// temporary directory behind, and the checkpoint committed before stays intact.
// Usage: full_disk_check DIR BACKEND   (DIR on a small file system, e.g. a 512 KiB tmpfs)
#include <mpi.h>

#include <cstdio>
#include <filesystem>

#include "cairn/cairn.hpp"
#include "cairn/mpi.h"

namespace {
int failures = 0;
void Check(bool ok, const char* what, const cairn::Status& s = cairn::OkStatus()) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s (%s)\n", what, s.ToString().c_str());
    ++failures;
  }
}
}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  namespace fs = std::filesystem;
  const fs::path dir = argv[1];
  const std::string backend = argv[2];
  auto comm = *cairn::MpiCommunicator(MPI_COMM_WORLD);
  auto ckpt = *cairn::Checkpointer::Create(comm);
  const int rank = comm->rank(), size = comm->size();
  const cairn::SaveOptions opts{.backend = backend, .array = {.use_compression = false}};

  std::vector<int32_t> small(64, rank + 1);
  cairn::Tree t1;
  t1["x"] = cairn::DistributedArray{
      cairn::DType::kInt32, {64 * size}, {{{{64 * rank}, {64}}, small.data()}}};
  cairn::Status s1 = ckpt.Save(dir / "1", t1, opts);
  Check(s1.ok(), "small save fits", s1);

  std::vector<double> big(1 << 17, 1.0);  // 1 MiB per rank: does not fit
  cairn::Tree t2;
  t2["y"] = cairn::DistributedArray{cairn::DType::kFloat64,
                                    {(1 << 17) * size},
                                    {{{{(int64_t{1} << 17) * rank}, {1 << 17}}, big.data()}}};
  cairn::Status s2 = ckpt.Save(dir / "2", t2, opts);
  Check(!s2.ok(), "big save fails", s2);
  Check(s2.message().find(dir.string()) != std::string::npos, "error names the path", s2);
  std::printf("rank %d: %s\n", rank, s2.ToString().c_str());
  // Same status everywhere.
  const std::string mine = s2.ToString();
  unsigned long long h = std::hash<std::string>{}(mine), lo = h, hi = h;
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
  Check(lo == hi, "every rank returns the same status", s2);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    for (const auto& e : fs::directory_iterator(dir)) {
      Check(e.path().filename() == "1",
            ("nothing but step 1 is left: " + e.path().string()).c_str());
    }
  }
  std::vector<int32_t> back(64, 0);
  cairn::Tree t3;
  t3["x"] = cairn::DistributedArray{
      cairn::DType::kInt32, {64 * size}, {{{{64 * rank}, {64}}, back.data()}}};
  cairn::Status s3 = ckpt.Restore(dir / "1", t3).status();
  Check(s3.ok() && back == small, "step 1 restores intact", s3);
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Finalize();
  return total ? 1 : 0;
}
