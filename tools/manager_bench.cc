// manager-bench: what the per-step calls of a training loop cost. Times ReachedPreemption and
// ShouldSave (a step that is not saved) per call, against a bare MPI_Allreduce of the same size
// measured in the same run, and prints medians of several runs with their ratios.
//
//   mpirun -n 4 build/tools/manager-bench [--calls 20000] [--runs 7] [--dir /tmp]
#include <mpi.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cairn/cairn.hpp"
#include "cairn/mpi.h"

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Microseconds per call of `fn`, median over `runs` runs of `calls` calls (every rank agrees on
// the slowest rank's time).
template <typename Fn>
double PerCallMicros(int runs, int calls, Fn&& fn) {
  std::vector<double> per_run;
  for (int r = 0; r < runs; ++r) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) fn(static_cast<int64_t>(r) * calls + i);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MPI_Allreduce(MPI_IN_PLACE, &secs, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    per_run.push_back(secs * 1e6 / calls);
  }
  return Median(per_run);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int calls = 20000, runs = 7;
  std::string dir = fs::temp_directory_path().string();
  po::options_description desc("manager-bench options");
  desc.add_options()("help", "this help")("calls", po::value(&calls), "calls per run (20000)")(
      "runs", po::value(&runs), "runs; the median is reported (7)")(
      "dir", po::value(&dir), "where the manager's (empty) directory is created");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    if (rank == 0) std::fprintf(stderr, "%s\n", e.what());
    MPI_Finalize();
    return 2;
  }
  if (vm.count("help")) {
    if (rank == 0) std::printf("%s\n", (std::ostringstream() << desc).str().c_str());
    MPI_Finalize();
    return 0;
  }
  auto comm = cairn::MpiCommunicator(MPI_COMM_WORLD).value();
  std::string root =
      (fs::path(dir) / ("cairn-manager-bench-" + std::to_string(::getpid()))).string();
  comm->Broadcast(root, 0).IgnoreError();
  cairn::CheckpointManagerOptions opts;
  opts.save_interval_steps = 1 << 30;  // never saves by interval
  opts.save_decision_policy = std::make_shared<cairn::FixedIntervalPolicy>(1 << 30);
  auto mgr = cairn::CheckpointManager::Create(comm, root, opts);
  if (!mgr.ok()) {
    std::fprintf(stderr, "rank %d: %s\n", rank, mgr.status().ToString().c_str());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Comm dup;
  MPI_Comm_dup(MPI_COMM_WORLD, &dup);
  int64_t sink = 0;
  const double allreduce = PerCallMicros(runs, calls, [&](int64_t step) {
    int64_t v[3] = {0, step, ~step};
    MPI_Allreduce(MPI_IN_PLACE, v, 3, MPI_INT64_T, MPI_MAX, dup);
    sink += v[0];
  });
  const double preempt = PerCallMicros(
      runs, calls, [&](int64_t step) { sink += (*mgr)->ReachedPreemption(step).value_or(false); });
  const double should = PerCallMicros(
      runs, calls, [&](int64_t step) { sink += (*mgr)->ShouldSave(step + 1).value_or(false); });
  if (rank == 0) {
    std::printf("manager-bench: %d rank(s), median of %d runs x %d calls\n", size, runs, calls);
    std::printf("  %-28s %8.2f us/call\n", "baseline MPI_Allreduce(3)", allreduce);
    std::printf("  %-28s %8.2f us/call  ratio %.2f\n", "ReachedPreemption(step)", preempt,
                preempt / allreduce);
    std::printf("  %-28s %8.2f us/call  ratio %.2f\n", "ShouldSave(step), no save", should,
                should / allreduce);
  }
  (*mgr)->Close().IgnoreError();
  mgr->reset();
  MPI_Comm_free(&dup);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) fs::remove_all(root);
  MPI_Finalize();
  return sink < 0 ? 1 : 0;
}
