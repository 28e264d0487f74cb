// train_loop: the training loop to copy from. A CheckpointManager decides when to save, keeps the
// latest and the best steps, resumes from the latest step on restart, and saves the current step
// when the job is told that it is about to be preempted.
//
//   mpirun -n 4 train_loop --dir ckpt --steps 100 --interval 10
//   # send SIGTERM or SIGUSR1 to any one rank (or SIGUSR1 to mpirun): every rank saves the same
//   # step, prints "PREEMPTED step=<n> rank=<r>" and exits 0. Then run the same command again:
//   mpirun -n 4 train_loop --dir ckpt --steps 100 --interval 10
//   # resumes after step <n>; its final "checksum" line equals that of an uninterrupted run.
//
// The "model" is a weight matrix w (ROWS x COLS, float32) and a bias b (ROWS, float32), both cut
// into row blocks, one per rank, plus the step counter. Each step pulls them towards a fixed
// target with a little noise drawn from a per-rank std::mt19937_64, then estimates a "loss" on a
// random sample (drawn from the same engines), so the loss decreases, noisily. A checkpoint step
// holds three items (a Composite):
//   "state":  the tree {"params": {"w", "b"}, "step"}            (StandardSave)
//   "rng":    every rank's engine state                          (RandomEngineSave, per rank)
//   "config": the hyper-parameters, checked on restore           (JsonSave)
// and the step's loss as its metrics, which the preservation policy ranks.
//
// Restart at the SAME number of ranks: each rank's engine is saved separately
// (RandomEngineSave::per_rank), so a restore on another rank count fails with FailedPrecondition
// (the arrays alone could be restored on any rank count, as examples/heat2d.cc shows).

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.hpp"
#include "cairn/mpi.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;
using nlohmann::json;

namespace {

struct Options {
  fs::path dir = "train-ckpt";
  int64_t steps = 100;
  int64_t interval = 10;
  std::string backend = "hdf5";
  fs::path pid_dir;     // empty: no pid files
  int64_t step_ms = 0;  // simulated compute time per step
};

// Hyper-parameters: stored with every step and compared on restore, since resuming with other
// values would silently continue a different run.
struct Config {
  int64_t rows = 64, cols = 16;
  double lr = 0.1, noise = 0.02;
  uint64_t seed = 20240601;
  int64_t samples_per_rank = 8;

  json ToJson() const {
    return {{"rows", rows},   {"cols", cols}, {"lr", lr},
            {"noise", noise}, {"seed", seed}, {"samples_per_rank", samples_per_rank}};
  }
};

// This rank's rows [row0, row0 + nrows) of w and b.
struct Model {
  int64_t row0 = 0, nrows = 0, cols = 0;
  std::vector<float> w, b;  // nrows x cols (row-major) and nrows
};

// The first rows % parts ranks get one row more, so any rank count up to `rows` works.
void Split(int64_t n, int parts, int part, int64_t& start, int64_t& size) {
  const int64_t base = n / parts, extra = n % parts;
  start = part * base + std::min<int64_t>(part, extra);
  size = base + (part < extra ? 1 : 0);
}

// A uniform draw in [-1, 1) from the engine's raw bits (std::uniform_real_distribution is not
// specified bit for bit, and this example compares results bit for bit).
double Uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-52 - 1.0; }

float TargetW(int64_t row, int64_t col) {
  return static_cast<float>(std::sin(0.1 * row + 0.3 * col));
}
float TargetB(int64_t row) { return static_cast<float>(std::cos(0.2 * row)); }

void Initialize(Model& m, std::mt19937_64& rng) {
  for (float& x : m.w) x = static_cast<float>(Uniform(rng));
  for (float& x : m.b) x = static_cast<float>(Uniform(rng));
}

// One "training step": x -= lr * (x - target) + noise * U(-1, 1), element by element.
void TrainStep(Model& m, std::mt19937_64& rng, const Config& c) {
  const float lr = static_cast<float>(c.lr), noise = static_cast<float>(c.noise);
  for (int64_t i = 0; i < m.nrows; ++i) {
    for (int64_t j = 0; j < m.cols; ++j) {
      float& x = m.w[i * m.cols + j];
      x -= lr * (x - TargetW(m.row0 + i, j)) + noise * static_cast<float>(Uniform(rng));
    }
    float& y = m.b[i];
    y -= lr * (y - TargetB(m.row0 + i)) + noise * static_cast<float>(Uniform(rng));
  }
}

// Sums one double per rank in rank order, so that every rank gets the same bits whatever
// reduction algorithm MPI picks.
double SumOverRanks(double mine, int size) {
  std::vector<double> all(size);
  MPI_Allgather(&mine, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD);
  double sum = 0;
  for (double v : all) sum += v;
  return sum;
}

// The mean squared error of a random sample of weights: the noisy "loss".
double Loss(const Model& m, std::mt19937_64& rng, const Config& c, int size) {
  double sq = 0;
  for (int64_t k = 0; k < c.samples_per_rank && m.nrows > 0; ++k) {
    const int64_t i = static_cast<int64_t>(rng() % static_cast<uint64_t>(m.nrows));
    const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(m.cols));
    const double d = m.w[i * m.cols + j] - TargetW(m.row0 + i, j);
    sq += d * d;
  }
  return SumOverRanks(sq, size) / static_cast<double>(c.samples_per_rank * size);
}

// The "state" item. Arrays point into `m`, which must stay alive and unmoved while the tree is in
// use; each rank describes the global shape and the rows it holds.
cairn::Tree StateTree(Model& m, const Config& c, int64_t step) {
  cairn::Tree t;
  t["params"]["w"] = cairn::DistributedArray{
      .dtype = cairn::DType::kFloat32,
      .global_shape = {c.rows, c.cols},
      .pieces = {{.box = {.origin = {m.row0, 0}, .shape = {m.nrows, c.cols}}, .data = m.w.data()}}};
  t["params"]["b"] = cairn::DistributedArray{
      .dtype = cairn::DType::kFloat32,
      .global_shape = {c.rows},
      .pieces = {{.box = {.origin = {m.row0}, .shape = {m.nrows}}, .data = m.b.data()}}};
  t["step"] = cairn::Scalar(step);
  return t;
}

// Everything a step saves, as one Composite: item name -> the argument struct of its handler.
cairn::Composite SaveArgs(Model& m, const std::mt19937_64& rng, const Config& c, int64_t step) {
  return cairn::Composite{{"state", cairn::StandardSave{StateTree(m, c, step)}},
                          {"rng", cairn::RandomEngineSave::Of(rng)},
                          {"config", cairn::JsonSave{c.ToJson()}}};
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

// cairn's collective calls return the same Status on every rank, so every rank stops cleanly on
// an error (no MPI_Abort); rank 0 reports it.
int Fail(int rank, const std::string& what, const cairn::Status& status) {
  if (rank == 0) {
    std::fprintf(stderr, "train_loop: %s: %s\n", what.c_str(), status.ToString().c_str());
  }
  return 1;
}

int Run(int argc, char** argv) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  Options o;
  po::options_description desc("train_loop options");
  // clang-format off
  desc.add_options()("help", "show this help")
      ("dir", po::value(&o.dir)->default_value(o.dir), "checkpoint directory")
      ("steps", po::value(&o.steps)->default_value(o.steps), "train up to this step")
      ("interval", po::value(&o.interval)->default_value(o.interval), "save every N steps")
      ("backend", po::value(&o.backend)->default_value(o.backend),
       "storage backend of the arrays (hdf5, reference)")
      ("pid-dir", po::value(&o.pid_dir), "each rank writes its pid to DIR/pid.<rank>")
      ("step-ms", po::value(&o.step_ms)->default_value(o.step_ms),
       "simulated compute time per step, milliseconds");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    if (rank == 0) std::cerr << "train_loop: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help")) {
    if (rank == 0) std::cout << desc;
    return 0;
  }
  const Config cfg;
  if (o.interval < 1 || o.steps < 1 || size > cfg.rows) {
    if (rank == 0)
      std::fprintf(stderr, "train_loop: need --interval >= 1, --steps >= 1, <= 64 ranks\n");
    return 2;
  }

  auto comm = cairn::MpiCommunicator(MPI_COMM_WORLD);
  if (!comm.ok()) return Fail(rank, "MpiCommunicator", comm.status());

  // Keep the 2 newest steps (to resume) and the 2 with the lowest loss (to evaluate or export),
  // possibly the same ones. BestN sorts by the metric ascending and keeps the LAST n, so
  // `.reverse = true` keeps the smallest losses. A step without a "loss" ranks as NaN: never best.
  auto loss_of = [](const json& metrics) {
    return metrics.value("loss", std::numeric_limits<double>::quiet_NaN());
  };
  std::vector<std::shared_ptr<const cairn::PreservationPolicy>> keep = {
      std::make_shared<cairn::LatestN>(2),
      std::make_shared<cairn::BestN>(
          cairn::BestN::Options{.get_metric_fn = loss_of, .reverse = true, .n = 2}),
  };

  // Create: collective. Creates the directory if needed, lists the committed steps (a save that
  // was killed half-way is never listed) and installs handlers for the preemption signals.
  // The default save decision saves every `save_interval_steps`, at the first step of a fresh
  // run, and at a preemption.
  auto mgr_or = cairn::CheckpointManager::Create(
      *comm, o.dir,
      {.save_interval_steps = o.interval,
       .best_fn = loss_of,  // for BestStep() only: the preservation_policy decides what is kept
       .best_mode = "min",
       .preservation_policy = std::make_shared<cairn::AnyPreservationPolicy>(std::move(keep)),
       .preemption_options = {.signals = {SIGTERM, SIGUSR1}},
       .save_options = {.backend = o.backend}});
  if (!mgr_or.ok()) return Fail(rank, "CheckpointManager::Create", mgr_or.status());
  std::unique_ptr<cairn::CheckpointManager> mgr = std::move(*mgr_or);

  if (!o.pid_dir.empty() && !WritePid(o.pid_dir, rank)) {
    std::fprintf(stderr, "train_loop: rank %d cannot write its pid file in %s\n", rank,
                 o.pid_dir.c_str());
    MPI_Abort(MPI_COMM_WORLD, 1);  // local failure: the other ranks would wait forever
  }

  Model model;
  Split(cfg.rows, size, rank, model.row0, model.nrows);
  model.cols = cfg.cols;
  model.w.assign(model.nrows * cfg.cols, 0.0f);
  model.b.assign(model.nrows, 0.0f);
  std::seed_seq seq{cfg.seed, static_cast<uint64_t>(rank)};
  std::mt19937_64 rng(seq);  // one engine per rank: each draws its own noise

  // LatestStep: this rank's copy of the listing (identical on every rank). Resume from it, or
  // start from scratch when the directory holds no committed step.
  int64_t step = 0;
  if (std::optional<int64_t> latest = mgr->LatestStep()) {
    cairn::Tree state = StateTree(model, cfg, 0);
    json stored_cfg;
    // Restore: collective. Fills the arrays' pieces, the scalar, this rank's engine and the
    // config from the given step.
    cairn::Status st =
        mgr->Restore(*latest, cairn::Composite{{"state", cairn::StandardRestore{&state}},
                                               {"rng", cairn::RandomEngineRestore::Into(&rng)},
                                               {"config", cairn::JsonRestore{&stored_cfg}}});
    if (!st.ok()) return Fail(rank, "restore step " + std::to_string(*latest), st);
    // Both values are the same on every rank (a scalar and a JSON item are replicated).
    step = std::get<cairn::Scalar>(state["step"].leaf()).as<int64_t>();
    if (step != *latest || stored_cfg != cfg.ToJson()) {
      return Fail(rank, "restore step " + std::to_string(*latest),
                  cairn::FailedPreconditionError(
                      "the checkpoint holds step " + std::to_string(step) + " and config " +
                      stored_cfg.dump() + "; this run uses " + cfg.ToJson().dump()));
    }
    if (rank == 0) {
      std::printf("restored step %lld from %s\n", static_cast<long long>(step),
                  mgr->StepDirectory(step).c_str());
    }
  } else {
    Initialize(model, rng);
  }
  std::fflush(stdout);

  while (step < o.steps) {
    ++step;
    TrainStep(model, rng, cfg);
    const double loss = Loss(model, rng, cfg, size);
    if (o.step_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.step_ms));

    const cairn::StepSaveParams params{.metrics = json{{"loss", loss}}};
    // Save: collective. Saves only if the save decision says so (interval, first step of a fresh
    // run, or a preemption signal seen by any rank) and returns whether it did; after the commit
    // it deletes the steps the preservation policy no longer keeps. Call it every step.
    cairn::Result<bool> saved = mgr->Save(step, SaveArgs(model, rng, cfg, step), params);
    if (!saved.ok()) return Fail(rank, "save step " + std::to_string(step), saved.status());
    if (*saved && rank == 0) {
      std::printf("saved step %lld loss=%.17g\n", static_cast<long long>(step), loss);
      std::fflush(stdout);
    }

    // ReachedPreemption: collective, one small allreduce. True on every rank, for the same step,
    // once any rank has caught SIGTERM or SIGUSR1; it then stays true.
    cairn::Result<bool> preempted = mgr->ReachedPreemption(step);
    if (!preempted.ok()) return Fail(rank, "ReachedPreemption", preempted.status());
    if (!*preempted) continue;
    // Save above asked the same question for this step (ReachedPreemption returns that agreed
    // answer), and the default save policy saves on preemption: this step is committed.
    // WaitUntilFinished: returns once the background save is committed (Save returned as soon
    // as the state was copied). Close: uninstalls the signal handlers.
    cairn::Status st = mgr->WaitUntilFinished();
    if (st.ok()) st = mgr->Close();
    if (!st.ok()) return Fail(rank, "finishing the preemption save", st);
    if (cairn::PreemptionWatcher::LastSignal() != 0) {
      std::printf("rank %d caught signal %d\n", rank, cairn::PreemptionWatcher::LastSignal());
    }
    std::printf("PREEMPTED step=%lld rank=%d\n", static_cast<long long>(step), rank);
    std::fflush(stdout);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
      std::printf("preempted: step %lld is saved in %s; run the same command to resume\n",
                  static_cast<long long>(step), mgr->StepDirectory(step).c_str());
    }
    return 0;
  }

  // A run can be compared with another one through this line: the sum of all elements (summed
  // per rank, then over ranks in rank order) and a hash of every rank's next random draw.
  double local = 0;
  for (float x : model.w) local += x;
  for (float x : model.b) local += x;
  const double sum = SumOverRanks(local, size);
  const uint64_t draw = rng();
  std::vector<uint64_t> draws(size);
  MPI_Allgather(&draw, 1, MPI_UINT64_T, draws.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD);
  uint64_t hash = 1469598103934665603ull;  // FNV-1a over the draws, in rank order
  for (uint64_t d : draws) {
    for (int k = 0; k < 8; ++k) hash = (hash ^ ((d >> (8 * k)) & 0xff)) * 1099511628211ull;
  }
  if (rank == 0) {
    const std::optional<int64_t> best = mgr->BestStep();
    std::printf("best step %lld; kept steps:", best ? static_cast<long long>(*best) : -1LL);
    for (int64_t s : mgr->AllSteps()) std::printf(" %lld", static_cast<long long>(s));
    std::printf("\nchecksum step=%lld sum=%a rng=%016llx\n", static_cast<long long>(step), sum,
                static_cast<unsigned long long>(hash));
  }
  cairn::Status st = mgr->Close();
  if (!st.ok()) return Fail(rank, "Close", st);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const int rc = Run(argc, argv);  // cairn's communicator is released inside, before finalize
  MPI_Finalize();
  return rc;
}
