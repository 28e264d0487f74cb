// A training loop that stops on preemption, driven by a CheckpointManager: each step updates a
// small distributed array (~20 ms), calls Save (the manager saves only at a preemption) and then
// ReachedPreemption. When that answers true, every rank has saved that step into DIR/<step>,
// checks that it restores, prints "PREEMPTED step=<n> rank=<r>" and exits 0.
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
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.hpp"
#include "cairn/mpi.h"
#include "cairn/preemption.h"
#include "mpi_tests/driver_util.h"

namespace {

namespace fs = std::filesystem;
using cairn::testing::WritePid;

constexpr int64_t kPerRank = 16;

// Some failures are local to one rank (pid file, restored values): abort the whole job rather
// than leave the other ranks waiting in the next collective.
int Fail(const char* what, const cairn::Status& s, int rank) {
  std::fprintf(stderr, "rank %d: %s: %s\n", rank, what, s.ToString().c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  return 1;
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
  // Only a preemption saves: the default decision (save_interval_steps) would also save the
  // first step of a fresh run (InitialSavePolicy, as in Orbax), so the policy is given explicitly.
  auto mgr_or = cairn::CheckpointManager::Create(
      comm, dir,
      {.save_decision_policy = std::make_shared<cairn::PreemptionCheckpointingPolicy>(),
       .preemption_options = {.signals = {SIGTERM, SIGUSR1}},
       .save_options = {.backend = backend}});
  if (!mgr_or.ok()) return Fail("CheckpointManager::Create", mgr_or.status(), rank);
  std::unique_ptr<cairn::CheckpointManager> mgr = std::move(*mgr_or);

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

    auto saved = mgr->Save(step, cairn::StandardSave{as_tree(state)});
    if (!saved.ok()) return Fail("Save", saved.status(), rank);
    auto reached = mgr->ReachedPreemption(step);
    if (!reached.ok()) return Fail("ReachedPreemption", reached.status(), rank);
    if (!*reached) {
      if (*saved) return Fail("Save", cairn::InternalError("saved without a preemption"), rank);
      continue;
    }
    // ReachedPreemption returns the answer Save agreed for this step: the step must be saved
    // (a signal between the two counts from the next step on).
    // The save runs in the background: wait for its commit before looking.
    if (auto st = mgr->WaitUntilFinished(); !st.ok()) return Fail("WaitUntilFinished", st, rank);
    if (!*saved || mgr->LatestStep() != step) {
      return Fail("Save", cairn::InternalError("the preemption step was not saved"), rank);
    }

    if (cairn::PreemptionWatcher::LastSignal() != 0) {
      std::printf("rank %d caught signal %d\n", rank, cairn::PreemptionWatcher::LastSignal());
    }
    std::vector<int64_t> back(kPerRank, 0);
    cairn::Tree target = as_tree(back);
    cairn::Status st = mgr->Restore(step, cairn::StandardRestore{&target});
    if (!st.ok()) return Fail("Restore", st, rank);
    if (back != state) {
      return Fail("Restore", cairn::DataLossError("restored values differ from the saved ones"),
                  rank);
    }
    st = mgr->Close();
    if (!st.ok()) return Fail("Close", st, rank);
    std::printf("PREEMPTED step=%lld rank=%d\n", static_cast<long long>(step), rank);
    std::fflush(stdout);
    mgr.reset();
    comm.reset();
    MPI_Finalize();
    return 0;
  }
  if (rank == 0) {
    std::fprintf(stderr, "no preemption within %lld steps\n", static_cast<long long>(max_steps));
  }
  mgr.reset();
  comm.reset();
  MPI_Finalize();
  return 3;
}
