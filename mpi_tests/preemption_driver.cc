// A training loop that stops on preemption: each step updates a small distributed array (~20 ms),
// then asks the PreemptionWatcher. When it answers true, every rank saves that step into
// DIR/<step>, checks it restores, prints "PREEMPTED step=<n> rank=<r>" and exits 0.
// Each rank writes its pid to DIR/pid.<rank> at start, so that a script can signal one rank.
// Usage: preemption_driver DIR [BACKEND=reference] [MAX_STEPS=750]
// Exit: 0 preempted and saved; 1 an error; 2 usage; 3 no preemption within MAX_STEPS.
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.hpp"
#include "cairn/mpi.h"
#include "cairn/preemption.h"

namespace {

namespace fs = std::filesystem;

constexpr int64_t kPerRank = 16;

// Some failures are local to one rank (pid file, restored values): abort the whole job rather
// than leave the other ranks waiting in the next collective.
int Fail(const char* what, const cairn::Status& s, int rank) {
  std::fprintf(stderr, "rank %d: %s: %s\n", rank, what, s.ToString().c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  return 1;
}

// Written under a temporary name and renamed, so that a reader never sees a partial pid.
bool WritePid(const fs::path& dir, int rank) {
  const fs::path tmp = dir / ("pid." + std::to_string(rank) + ".tmp");
  {
    std::ofstream out(tmp);
    out << getpid() << "\n";
    if (!out) return false;
  }
  std::error_code ec;
  fs::rename(tmp, dir / ("pid." + std::to_string(rank)), ec);
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (argc < 2) {
    if (rank == 0) std::fprintf(stderr, "usage: %s DIR [BACKEND] [MAX_STEPS]\n", argv[0]);
    MPI_Finalize();
    return 2;
  }
  const fs::path dir = argv[1];
  const std::string backend = argc > 2 ? argv[2] : "reference";
  const int64_t max_steps = argc > 3 ? std::stoll(argv[3]) : 750;

  auto comm_or = cairn::MpiCommunicator(MPI_COMM_WORLD);
  if (!comm_or.ok()) return Fail("MpiCommunicator", comm_or.status(), rank);
  auto comm = *comm_or;
  const int size = comm->size();
  auto watcher_or = cairn::PreemptionWatcher::Create(comm, {.signals = {SIGTERM, SIGUSR1}});
  if (!watcher_or.ok()) return Fail("PreemptionWatcher::Create", watcher_or.status(), rank);
  auto watcher = std::move(*watcher_or);
  auto ckpt_or = cairn::Checkpointer::Create(comm);
  if (!ckpt_or.ok()) return Fail("Checkpointer::Create", ckpt_or.status(), rank);
  cairn::Checkpointer ckpt = std::move(*ckpt_or);

  if (!WritePid(dir, rank)) {
    return Fail("writing the pid file", cairn::InternalError((dir / "pid").string()), rank);
  }

  // The state: a row block of a 1-d int64 array; after step s element g holds s * 1000 + g.
  std::vector<int64_t> state(kPerRank, -1);
  const int64_t origin = kPerRank * rank;
  auto as_tree = [&](std::vector<int64_t>& data) {
    cairn::Tree t;
    t["x"] = cairn::DistributedArray{
        cairn::DType::kInt64, {kPerRank * size}, {{{{origin}, {kPerRank}}, data.data()}}};
    return t;
  };

  for (int64_t step = 0; step < max_steps; ++step) {
    for (int64_t i = 0; i < kPerRank; ++i) state[i] = step * 1000 + origin + i;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));

    auto reached = watcher->ReachedPreemption(step);
    if (!reached.ok()) return Fail("ReachedPreemption", reached.status(), rank);
    if (!*reached) continue;

    if (watcher->SignalReceivedLocally()) {
      std::printf("rank %d caught signal %d\n", rank, cairn::PreemptionWatcher::LastSignal());
    }
    const cairn::SaveOptions opts{.backend = backend};
    cairn::Status st = ckpt.Save(dir / std::to_string(step), as_tree(state), opts);
    if (!st.ok()) return Fail("Save", st, rank);
    std::vector<int64_t> back(kPerRank, 0);
    cairn::Tree target = as_tree(back);
    st = ckpt.Restore(dir / std::to_string(step), target).status();
    if (!st.ok()) return Fail("Restore", st, rank);
    if (back != state) {
      return Fail("Restore", cairn::DataLossError("restored values differ from the saved ones"),
                  rank);
    }
    std::printf("PREEMPTED step=%lld rank=%d\n", static_cast<long long>(step), rank);
    std::fflush(stdout);
    watcher.reset();
    MPI_Finalize();
    return 0;
  }
  if (rank == 0) {
    std::fprintf(stderr, "no preemption within %lld steps\n", static_cast<long long>(max_steps));
  }
  watcher.reset();
  MPI_Finalize();
  return 3;
}
