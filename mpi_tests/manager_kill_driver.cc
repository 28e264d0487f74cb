// Driver of manager_kill.sh: a CheckpointManager run killed with SIGKILL at random moments.
//
//   manager_kill_driver train DIR PID_DIR BACKEND STEPS
//     Resumes after the latest committed step of DIR (or starts at 0) and saves EVERY step with
//     CheckpointManager (max_to_keep 3), STEPS steps (-1: until killed). The tree holds a 1-d
//     int64 array, kPerRank elements per rank, whose element g holds step * 2^32 + g, and the
//     step as a scalar. Each rank writes its pid to PID_DIR/pid.<rank>. Rank 0 prints
//     "saving step <s>" before each save and "committed step <s>" once Save returned.
//   manager_kill_driver verify DIR
//     Opens DIR read-only (any rank count), restores EVERY listed step into this rank's share of
//     the array and checks every element and the scalar against the step number. Prints
//     "steps: <s> ..." and "VERIFIED <n> steps, latest <s>".
// Exit: 0 done; 1 an error or a wrong value; 2 usage.
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cairn/cairn.hpp"
#include "cairn/mpi.h"
#include "mpi_tests/driver_util.h"

namespace {

namespace fs = std::filesystem;
using cairn::testing::WritePid;

constexpr int64_t kPerRank = 512 * 1024;  // 4 MiB of int64 per training rank

int64_t Value(int64_t step, int64_t g) { return step * (int64_t{1} << 32) + g; }

// The first n % parts parts get one element more.
void Split(int64_t n, int parts, int part, int64_t& start, int64_t& size) {
  const int64_t base = n / parts, extra = n % parts;
  start = part * base + std::min<int64_t>(part, extra);
  size = base + (part < extra ? 1 : 0);
}

cairn::Tree StateTree(std::vector<int64_t>& data, int64_t global, int64_t origin, int64_t step) {
  cairn::Tree t;
  t["x"] = cairn::DistributedArray{
      .dtype = cairn::DType::kInt64,
      .global_shape = {global},
      .pieces = {{.box = {.origin = {origin}, .shape = {static_cast<int64_t>(data.size())}},
                  .data = data.data()}}};
  t["step"] = cairn::Scalar(step);
  return t;
}

// Collective failures return the same Status on every rank: every rank returns 1.
int Fail(int rank, const std::string& what, const cairn::Status& s) {
  if (rank == 0) std::fprintf(stderr, "FAIL %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

int Train(std::shared_ptr<cairn::Communicator> comm, const fs::path& dir, const fs::path& pid_dir,
          const std::string& backend, int64_t steps) {
  const int rank = comm->rank(), size = comm->size();
  auto mgr_or = cairn::CheckpointManager::Create(
      comm, dir,
      {.max_to_keep = 3,
       .save_options = {.backend = backend, .array = {.use_compression = false}}});
  if (!mgr_or.ok()) return Fail(rank, "CheckpointManager::Create", mgr_or.status());
  auto mgr = std::move(*mgr_or);
  if (!WritePid(pid_dir, rank)) {
    std::fprintf(stderr, "rank %d: cannot write its pid file in %s\n", rank, pid_dir.c_str());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  const int64_t origin = kPerRank * rank;
  std::vector<int64_t> data(kPerRank);
  const int64_t first = mgr->LatestStep() ? *mgr->LatestStep() + 1 : 0;
  if (rank == 0) {
    std::printf("start step %lld (committed:", static_cast<long long>(first));
    for (int64_t s : mgr->AllSteps()) std::printf(" %lld", static_cast<long long>(s));
    std::printf(")\n");
    std::fflush(stdout);
  }
  for (int64_t step = first; steps < 0 || step < first + steps; ++step) {
    for (int64_t i = 0; i < kPerRank; ++i) data[i] = Value(step, origin + i);
    if (rank == 0) {
      std::printf("saving step %lld\n", static_cast<long long>(step));
      std::fflush(stdout);
    }
    auto saved =
        mgr->Save(step, cairn::StandardSave{StateTree(data, kPerRank * size, origin, step)});
    if (!saved.ok()) return Fail(rank, "Save(" + std::to_string(step) + ")", saved.status());
    if (!*saved) {
      return Fail(rank, "Save(" + std::to_string(step) + ")",
                  cairn::InternalError("the manager did not save although interval is 1"));
    }
    // Saves run in the background: "committed" is printed only once the commit is done.
    if (cairn::Status st = mgr->WaitUntilFinished(); !st.ok()) {
      return Fail(rank, "WaitUntilFinished(" + std::to_string(step) + ")", st);
    }
    if (rank == 0) {
      std::printf("committed step %lld\n", static_cast<long long>(step));
      std::fflush(stdout);
    }
  }
  if (rank == 0) {
    std::printf("TRAIN_DONE steps:");
    for (int64_t s : mgr->AllSteps()) std::printf(" %lld", static_cast<long long>(s));
    std::printf("\n");
  }
  cairn::Status st = mgr->Close();
  return st.ok() ? 0 : Fail(rank, "Close", st);
}

int Verify(std::shared_ptr<cairn::Communicator> comm, const fs::path& dir) {
  const int rank = comm->rank(), size = comm->size();
  auto mgr_or = cairn::CheckpointManager::Create(comm, dir, {.create = false, .read_only = true});
  if (!mgr_or.ok()) return Fail(rank, "CheckpointManager::Create", mgr_or.status());
  auto mgr = std::move(*mgr_or);
  const std::vector<int64_t> steps = mgr->AllSteps();
  if (rank == 0) {
    std::printf("steps:");
    for (int64_t s : steps) std::printf(" %lld", static_cast<long long>(s));
    std::printf("\n");
  }
  if (!mgr->LatestStep()) return Fail(rank, "LatestStep", cairn::NotFoundError("no step listed"));
  int64_t bad = 0;  // wrong elements on this rank, over all steps
  for (int64_t step : steps) {
    // The global length is whatever the training run wrote (its rank count times kPerRank).
    auto meta = mgr->ItemMetadata(step);
    int64_t global = -1;
    if (meta.ok() && meta->count("default")) {
      if (const cairn::Tree* x = meta->at("default").Find(cairn::KeyPath{{.key = "x"}})) {
        if (x->is_leaf()) {
          if (const auto* a = std::get_if<cairn::DistributedArray>(&x->leaf())) {
            if (a->global_shape.size() == 1) global = a->global_shape[0];
          }
        }
      }
    }
    // Every rank read the metadata itself: agree on one length (or on failing) before restoring.
    std::vector<int64_t> agreed = {global}, min_global = {global};
    if (!comm->AllReduceMax(agreed).ok() || !comm->AllReduceMin(min_global).ok() ||
        agreed[0] != min_global[0] || agreed[0] <= 0) {
      return Fail(
          rank, "ItemMetadata(" + std::to_string(step) + ")",
          meta.ok() ? cairn::DataLossError("no 1-d array 'x' in item 'default'") : meta.status());
    }
    int64_t origin = 0, count = 0;
    Split(global, size, rank, origin, count);
    std::vector<int64_t> data(count, -1);
    cairn::Tree target = StateTree(data, global, origin, -1);
    cairn::Status st = mgr->Restore(step, cairn::StandardRestore{&target});
    if (!st.ok()) return Fail(rank, "Restore(" + std::to_string(step) + ")", st);
    const int64_t stored_step = std::get<cairn::Scalar>(target["step"].leaf()).as<int64_t>();
    int64_t wrong = stored_step == step ? 0 : 1;
    for (int64_t i = 0; i < count; ++i) {
      if (data[i] != Value(step, origin + i)) {
        if (wrong++ == 0) {
          std::fprintf(stderr, "rank %d: step %lld element %lld holds %lld, expected %lld\n", rank,
                       static_cast<long long>(step), static_cast<long long>(origin + i),
                       static_cast<long long>(data[i]),
                       static_cast<long long>(Value(step, origin + i)));
        }
      }
    }
    if (stored_step != step) {
      std::fprintf(stderr, "rank %d: step %lld holds the scalar step %lld\n", rank,
                   static_cast<long long>(step), static_cast<long long>(stored_step));
    }
    bad += wrong;
    if (rank == 0) {
      std::printf("step %lld: %lld elements checked\n", static_cast<long long>(step),
                  static_cast<long long>(global));
    }
  }
  std::vector<int64_t> total = {bad};
  cairn::Status st = comm->AllReduceSum(total);
  if (!st.ok()) return Fail(rank, "AllReduceSum", st);
  if (total[0] != 0) {
    if (rank == 0)
      std::fprintf(stderr, "FAIL: %lld wrong values\n", static_cast<long long>(total[0]));
    return 1;
  }
  if (rank == 0) {
    std::printf("VERIFIED %zu steps, latest %lld\n", steps.size(),
                static_cast<long long>(*mgr->LatestStep()));
  }
  return 0;
}

int Run(int argc, char** argv) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::string mode = argc > 1 ? argv[1] : "";
  const bool train = mode == "train" && argc == 6;
  const bool verify = mode == "verify" && argc == 3;
  if (!train && !verify) {
    if (rank == 0) {
      std::fprintf(stderr,
                   "usage: %s train DIR PID_DIR BACKEND STEPS\n"
                   "       %s verify DIR\n",
                   argv[0], argv[0]);
    }
    return 2;
  }
  auto comm = cairn::MpiCommunicator(MPI_COMM_WORLD);
  if (!comm.ok()) return Fail(rank, "MpiCommunicator", comm.status());
  if (train) return Train(*comm, argv[2], argv[3], argv[4], std::stoll(argv[5]));
  return Verify(*comm, argv[2]);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const int rc = Run(argc, argv);  // the communicator is released inside, before finalize
  MPI_Finalize();
  return rc;
}
