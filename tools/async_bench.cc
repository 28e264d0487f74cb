// async-bench: what an asynchronous save costs the application, at the current rank count.
//
//   mpirun -n 4 build/tools/async-bench [--dir /tmp|/dev/shm] [--mib-per-rank 256] [--arrays 8]
//       [--runs 5] [--compression off] [--backend hdf5] [--compute fma|stream] [--json FILE]
//
// The state is `--arrays` float32 arrays of (ranks * rows) x 4096, cut into row blocks, one per
// rank, `--mib-per-rank` MiB per rank in all. One AsyncCheckpointer without memory limits saves it
// runs + 1 times: save 0 fills the library's staging pool (it pays the page faults) and is
// reported alone; the medians are over saves 1..runs. Each run measures, against a baseline
// measured in the same run:
//   blocking  Save() until it returns, vs a memcpy of the same bytes into a pre-touched buffer
//   commit    Save() until WaitUntilFinished returns, vs write()+fsync of the same bytes (a file
//             per rank; cairn fsyncs its files too)
//   compute   a single-threaded compute loop, in blocks of `--block-ms`, run alone (half the
//             blocks before the save, half after), and while a save is in flight: Save, blocks
//             until the save has committed (AsyncOptions post_finalization_callback; a block
//             that ends after the commit is not counted), WaitUntilFinished. Compared per block,
//             so the loop always covers the whole background write whatever its length.
//             For diagnosis it also prints the compute thread's CPU time per wall second (alone
//             and under the save: below 100% means it was descheduled, not slowed down), the CPU
//             seconds the other threads used, and the commit time under the loop; a save that
//             the loop starves is given up on after `--cap` times the plain commit (marked).
// The background writer thread inherits the rank's CPU binding; Open MPI binds each rank to one
// core by default at 1-2 ranks, so the header says how many CPUs a rank may use (pass
// `mpirun --bind-to none` to let the writer run on another core).
// Then, unless `--phases` leaves it out, peak resident memory: for each memory configuration (no
// limit; MemoryOptions.transfer_concurrent_bytes = state / --limit-fraction; the same for
// write_concurrent_bytes) a fresh AsyncCheckpointer saves `--rss-saves` times; before each save
// VmHWM is reset through /proc/self/clear_refs, and the peak extra memory is VmHWM minus VmRSS
// measured before the checkpointer was created (the state, the baseline buffers and MPI are in
// it; the staging pool is not). The library's own figure, performance_metrics.staging_peak_bytes
// of `_CHECKPOINT_METADATA` (rank 0's), is printed next to it.
// Times are the slowest rank's (MPI_MAX), ratios are medians of the per-run ratios. Rank 0 prints.

#include <fcntl.h>
#include <malloc.h>
#include <mpi.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cairn/cairn.hpp"
#include "cairn/mpi.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

using cairn_tools::Median;
using cairn_tools::Mix;
using cairn_tools::FsType;
using cairn_tools::LoadAverage;
using cairn_tools::ParseOnOff;

constexpr double kMiB = 1024.0 * 1024.0;
constexpr int64_t kCols = 4096;  // 16 KiB rows

struct Options {
  fs::path dir = "/tmp";
  int64_t mib_per_rank = 256;
  int arrays = 8;
  int runs = 5;
  bool compression = false;
  std::string backend = "hdf5";
  std::string compute = "fma";
  double block_ms = 5;
  int alone_blocks = 60;
  int limit_fraction = 8;
  int rss_saves = 2;
  double cap_factor = 10;
  std::string rss_configs = "none,transfer,write";
  std::string phases = "time,rss";
  std::string json_path;
};

int g_rank = 0;
int g_size = 1;
std::atomic<int64_t> g_commits{0};  // post_finalization_callback count (this rank)

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "async-bench (rank %d): %s\n", g_rank, message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

void Check(const cairn::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// CPU seconds of this thread, or of every thread of the process (exited ones included).
double CpuSeconds(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double MaxOverRanks(double v) {
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return v;
}

bool Has(const std::string& list, const std::string& item) {
  std::stringstream in(list);
  for (std::string s; std::getline(in, s, ',');) {
    if (s == item || s == "all") return true;
  }
  return false;
}

// Returns false after printing usage or errors (rank 0), or when --help was asked.
bool ParseOptions(int argc, char** argv, Options& o, int& exit_code) {
  std::string compression = "off", dir = o.dir.string();
  po::options_description desc("async-bench options");
  desc.add_options()("help,h", "this help")(
      "dir", po::value(&dir)->default_value(dir),
      "parent directory of the bench's own folder (/tmp, /dev/shm, ...)")(
      "mib-per-rank", po::value(&o.mib_per_rank)->default_value(o.mib_per_rank),
      "state MiB per rank")("arrays", po::value(&o.arrays)->default_value(o.arrays),
                            "number of float32 arrays sharing the state")(
      "runs", po::value(&o.runs)->default_value(o.runs), "timed runs (after one cold save)")(
      "compression", po::value(&compression)->default_value(compression),
      "SaveOptions.array.use_compression: on|off")(
      "backend", po::value(&o.backend)->default_value(o.backend), "hdf5 or reference")(
      "compute", po::value(&o.compute)->default_value(o.compute),
      "compute loop: fma (L1-resident, compute-bound) or stream (triad over 96 MiB, "
      "memory-bound)")("block-ms", po::value(&o.block_ms)->default_value(o.block_ms),
                       "length of one compute block alone")(
      "alone-blocks", po::value(&o.alone_blocks)->default_value(o.alone_blocks),
      "compute blocks timed alone per run (half before the save, half after)")(
      "limit-fraction", po::value(&o.limit_fraction)->default_value(o.limit_fraction),
      "memory limit = state per rank / this")(
      "cap", po::value(&o.cap_factor)->default_value(o.cap_factor),
      "stop the compute loop under a save after this many times the run's plain commit time "
      "(at least 2 s); the save then finishes alone and the run is marked capped")(
      "rss-saves", po::value(&o.rss_saves)->default_value(o.rss_saves),
      "saves per memory configuration (the first fills the staging pool)")(
      "rss-configs", po::value(&o.rss_configs)->default_value(o.rss_configs),
      "memory configurations: none,transfer,write,both")(
      "phases", po::value(&o.phases)->default_value(o.phases),
      "time (blocking, commit, compute), rss, or both")(
      "json", po::value(&o.json_path), "also write the results as JSON to this file");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    if (vm.count("help")) {
      if (g_rank == 0) std::cout << desc << "\n";
      exit_code = 0;
      return false;
    }
    o.dir = dir;
    o.compression = ParseOnOff(compression, "compression");
    if (o.compute != "fma" && o.compute != "stream") throw po::error("--compute: fma or stream");
    if (o.mib_per_rank < 1 || o.arrays < 1 || o.runs < 1 || o.block_ms <= 0 || o.alone_blocks < 1 ||
        o.limit_fraction < 1 || o.rss_saves < 1) {
      throw po::error("sizes, counts and --block-ms must be positive");
    }
  } catch (const std::exception& e) {
    if (g_rank == 0) std::cerr << "async-bench: " << e.what() << "\n" << desc << "\n";
    exit_code = 2;
    return false;
  }
  return true;
}

// One array's local row block, and a pre-touched buffer of the same size for the memcpy baseline.
struct Array {
  int64_t rows = 0, row0 = 0, rows_total = 0;
  std::vector<float> data, copy;
  size_t bytes() const { return data.size() * sizeof(float); }
};

std::vector<Array> MakeState(const Options& o) {
  const int64_t rows = (o.mib_per_rank << 20) / o.arrays / (kCols * 4);
  if (rows < 1) Die("--mib-per-rank is too small for --arrays");
  std::vector<Array> arrays(static_cast<size_t>(o.arrays));
  for (int i = 0; i < o.arrays; ++i) {
    Array& a = arrays[i];
    a.rows = rows;
    a.row0 = rows * g_rank;
    a.rows_total = rows * g_size;
    a.data.resize(static_cast<size_t>(rows * kCols));
    a.copy.assign(a.data.size(), 0.0f);  // touched now: the baseline pays no page faults
    const uint64_t salt = Mix(static_cast<uint64_t>(i) + 1);
    for (size_t k = 0; k < a.data.size(); ++k) {  // 24 random mantissa bits in [0, 1)
      const uint64_t h = Mix(salt ^ (static_cast<uint64_t>(a.row0 * kCols) + k));
      a.data[k] = static_cast<float>(h >> 40) * 0x1p-24f;
    }
  }
  return arrays;
}

cairn::Tree MakeTree(std::vector<Array>& arrays) {
  cairn::Tree tree;
  for (size_t i = 0; i < arrays.size(); ++i) {
    Array& a = arrays[i];
    char name[32];
    std::snprintf(name, sizeof name, "array_%03zu", i);
    tree[name] = cairn::DistributedArray{
        .dtype = cairn::DType::kFloat32,
        .global_shape = {a.rows_total, kCols},
        .pieces = {
            {.box = {.origin = {a.row0, 0}, .shape = {a.rows, kCols}}, .data = a.data.data()}}};
  }
  return tree;
}

// The compute loop: `units` units of single-threaded work. fma: 64 multiply-adds on each of 1024
// floats (4 KiB, stays in L1). stream: a triad over 4096-element pieces of three 32 MiB arrays,
// cycling, so every unit misses the caches.
class Compute {
 public:
  explicit Compute(const std::string& kind) : stream_(kind == "stream") {
    x_.assign(1024, 1.0f);
    if (stream_) {
      a_.assign(kStreamElems, 0.0f);
      b_.assign(kStreamElems, 1.0f);
      c_.assign(kStreamElems, 2.0f);
    }
  }
  void Run(int64_t units) {
    if (!stream_) {
      for (int64_t u = 0; u < units; ++u) {
        for (int rep = 0; rep < 64; ++rep) {
          for (float& v : x_) v = v * 0.999999f + 1e-6f;
        }
      }
    } else {
      for (int64_t u = 0; u < units; ++u) {
        float* a = a_.data() + pos_;
        const float* b = b_.data() + pos_;
        const float* c = c_.data() + pos_;
        for (size_t i = 0; i < 4096; ++i) a[i] = b[i] + 0.5f * c[i];
        pos_ = (pos_ + 4096) % kStreamElems;
      }
    }
  }
  float sink() const { return x_[7] + (stream_ ? a_[pos_] : 0.0f); }
  const char* Describe() const {
    return stream_ ? "stream (triad a = b + s*c over 3 x 32 MiB, memory-bound)"
                   : "fma (x = x*a + b over 1024 floats = 4 KiB in L1, compute-bound)";
  }

 private:
  static constexpr size_t kStreamElems = size_t{8} << 20;
  bool stream_;
  size_t pos_ = 0;
  std::vector<float> x_, a_, b_, c_;
};

// Units per block so that a block alone lasts about `ms` on this rank.
int64_t Calibrate(Compute& compute, double ms) {
  compute.Run(64);  // warm-up
  int64_t units = 16;
  for (;;) {
    const auto t0 = Clock::now();
    compute.Run(units);
    const double s = Seconds(t0, Clock::now());
    if (s >= 0.05) return std::max<int64_t>(1, static_cast<int64_t>(units * ms * 1e-3 / s));
    units *= 2;
  }
}

// Peak and current resident memory of this process, bytes (from /proc/self/status).
struct Rss {
  int64_t hwm = 0, rss = 0;
};
Rss ReadRss() {
  std::ifstream f("/proc/self/status");
  Rss r;
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmHWM:", 0) == 0) r.hwm = std::atoll(line.c_str() + 6) * 1024;
    if (line.rfind("VmRSS:", 0) == 0) r.rss = std::atoll(line.c_str() + 6) * 1024;
  }
  return r;
}

bool ResetHwm() {
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

// Whether writing 5 to clear_refs resets VmHWM on this kernel: touch 64 MiB, unmap it, reset.
bool HwmResetWorks() {
  const size_t n = size_t{64} << 20;
  void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  std::memset(p, 1, n);
  const int64_t peak = ReadRss().hwm;
  ::munmap(p, n);
  return ResetHwm() && ReadRss().hwm < peak - static_cast<int64_t>(n / 2);
}

// The baseline of the commit: this rank's bytes written to its own file, then fsync.
void WriteBaseline(const fs::path& file, const std::vector<Array>& arrays) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) Die("open " + file.string() + ": " + std::strerror(errno));
  for (const Array& a : arrays) {
    const char* p = reinterpret_cast<const char*>(a.data.data());
    size_t left = a.bytes();
    while (left > 0) {
      const ssize_t n = ::write(fd, p, std::min(left, size_t{64} << 20));
      if (n <= 0) Die("write " + file.string() + ": " + std::strerror(errno));
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  if (::fsync(fd) != 0) Die("fsync " + file.string() + ": " + std::strerror(errno));
  ::close(fd);
}

// Everyone waits for a sync, so that the next phase starts on a quiet disk.
void Settle() {
  if (g_rank == 0) ::sync();
  MPI_Barrier(MPI_COMM_WORLD);
}

// Rank 0 deletes `path`, then Settle.
void RemoveAndSettle(const fs::path& path) {
  if (g_rank == 0) {
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) Die("removing " + path.string() + ": " + ec.message());
  }
  Settle();
}

// The numeric performance_metrics of a committed step (rank 0 reads, everyone gets them).
json PerfMetrics(const fs::path& step) {
  std::string text;
  if (g_rank == 0) {
    auto m = cairn::ReadCheckpointMetadata(step);
    Check(m.status(), "ReadCheckpointMetadata " + step.string());
    text = m->performance_metrics.dump();
  }
  int n = static_cast<int>(text.size());
  MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);
  text.resize(static_cast<size_t>(n));
  MPI_Bcast(text.data(), n, MPI_CHAR, 0, MPI_COMM_WORLD);
  return json::parse(text);
}

struct SaveTimes {
  double blocking = 0, commit = 0;
  json perf;
};

// One Save + WaitUntilFinished into a new step; the slowest rank's seconds.
SaveTimes TimedSave(cairn::AsyncCheckpointer& ckpt, const fs::path& step, const cairn::Tree& state,
                    const cairn::SaveOptions& options) {
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = Clock::now();
  Check(ckpt.Save(step, cairn::StandardSave{state}, options), "Save " + step.string());
  const auto t1 = Clock::now();
  Check(ckpt.WaitUntilFinished(), "WaitUntilFinished " + step.string());
  const auto t2 = Clock::now();
  SaveTimes t{MaxOverRanks(Seconds(t0, t1)), MaxOverRanks(Seconds(t0, t2)), PerfMetrics(step)};
  return t;
}

struct Run {
  double memcpy_s = 0, blocking_s = 0, write_s = 0, commit_s = 0;
  double alone_block_s = 0, with_block_s = 0;
  double with_commit_s = 0;  // Save() to the commit while the compute loop runs
  // Diagnosis: the compute thread's CPU seconds per wall second, alone and under the save, and
  // the CPU seconds the process's other threads (the writer, MPI, HDF5) used meanwhile.
  double alone_cpu_share = 0, with_cpu_share = 0, other_cpu_s = 0;
  int64_t with_blocks = 0;
  bool capped = false;  // the compute loop gave up waiting for the save (see --cap)
  json perf;
};

const char* Verdict(bool met) { return met ? "met" : "MISSED"; }

// Everything a phase needs; built once in main.
struct Bench {
  Options o;
  fs::path root;
  std::vector<Array> arrays;
  cairn::Tree state;
  int64_t bytes = 0;  // per rank
  std::unique_ptr<Compute> compute;
  int64_t block_units = 0;
  std::shared_ptr<cairn::Communicator> comm;
  cairn::CheckpointerOptions ckpt_options;
  cairn::SaveOptions save_options;
  bool hwm_ok = false;
};

// One run of the time phase: memcpy vs Save(), write+fsync vs commit, compute alone vs under a
// save. `r` numbers the step directories.
Run OneRun(Bench& b, cairn::AsyncCheckpointer& ckpt, int r) {
  Run run;
  MPI_Barrier(MPI_COMM_WORLD);
  auto t0 = Clock::now();
  for (Array& a : b.arrays) std::memcpy(a.copy.data(), a.data.data(), a.bytes());
  run.memcpy_s = MaxOverRanks(Seconds(t0, Clock::now()));
  const fs::path step = b.root / ("step_" + std::to_string(2 * r));
  SaveTimes st = TimedSave(ckpt, step, b.state, b.save_options);
  run.blocking_s = st.blocking;
  run.commit_s = st.commit;
  run.perf = st.perf;
  RemoveAndSettle(step);

  const fs::path base_file = b.root / "baseline" / ("rank-" + std::to_string(g_rank) + ".bin");
  MPI_Barrier(MPI_COMM_WORLD);
  t0 = Clock::now();
  WriteBaseline(base_file, b.arrays);
  run.write_s = MaxOverRanks(Seconds(t0, Clock::now()));
  MPI_Barrier(MPI_COMM_WORLD);
  fs::remove(base_file);
  Settle();

  // Alone: half the blocks before the save, half after, so that a drifting machine load does
  // not bias the ratio.
  const int half = std::max(1, b.o.alone_blocks / 2);
  double alone_cpu = 0;
  auto alone = [&] {
    MPI_Barrier(MPI_COMM_WORLD);
    const double c0 = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
    const auto a0 = Clock::now();
    for (int k = 0; k < half; ++k) b.compute->Run(b.block_units);
    alone_cpu += CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - c0;
    return Seconds(a0, Clock::now());
  };
  double alone_s = alone();
  const fs::path step2 = b.root / ("step_" + std::to_string(2 * r + 1));
  MPI_Barrier(MPI_COMM_WORLD);
  const int64_t commits = g_commits.load();
  const auto s0 = Clock::now();
  Check(ckpt.Save(step2, cairn::StandardSave{b.state}, b.save_options), "Save (compute)");
  // A block that ends after the commit is not counted: it did not run under the save.
  double busy = 0, busy_cpu = 0;
  int64_t blocks = 0;
  const double p0 = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID), t0c = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
  // A save starved by the compute loop (a busy rank sharing its core with the writer thread)
  // could take minutes: stop computing after the cap, let it finish, and say so.
  const double cap_s = std::max(2.0, b.o.cap_factor * run.commit_s);
  bool capped = false;
  while (g_commits.load() == commits) {
    if (Seconds(s0, Clock::now()) > cap_s) {
      capped = true;
      break;
    }
    const double c0 = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
    const auto b0 = Clock::now();
    b.compute->Run(b.block_units);
    const double secs = Seconds(b0, Clock::now());
    const double cpu = CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - c0;
    if (g_commits.load() != commits) break;
    busy += secs;
    busy_cpu += cpu;
    ++blocks;
  }
  const double other =
      (CpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - p0) - (CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - t0c);
  Check(ckpt.WaitUntilFinished(), "WaitUntilFinished (compute)");
  run.with_commit_s = MaxOverRanks(Seconds(s0, Clock::now()));
  alone_s += alone();
  run.alone_block_s = MaxOverRanks(alone_s / (2 * half));
  run.with_block_s = MaxOverRanks(blocks > 0 ? busy / blocks : 0.0);
  run.alone_cpu_share = -MaxOverRanks(-alone_cpu / alone_s);  // the least-served rank
  run.with_cpu_share = -MaxOverRanks(busy > 0 ? -busy_cpu / busy : 0.0);
  run.other_cpu_s = MaxOverRanks(other);
  run.capped = MaxOverRanks(capped ? 1.0 : 0.0) > 0;
  MPI_Allreduce(&blocks, &run.with_blocks, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD);
  RemoveAndSettle(step2);
  return run;
}

// Rank 0: the medians of runs 1.. (run 0 shown alone), as printed lines and JSON.
json Summarize(const Bench& b, const std::vector<Run>& runs) {
  std::vector<double> mc, bl, bl_ratio, wr, cm, cm_ratio, al, wi, c_ratio, blocks, wc, sa, sw, oc;
  std::map<std::string, std::vector<double>> perf;
  json per_run = json::array();
  for (size_t r = 0; r < runs.size(); ++r) {
    const Run& x = runs[r];
    per_run.push_back({{"memcpy_s", x.memcpy_s},
                       {"blocking_s", x.blocking_s},
                       {"write_fsync_s", x.write_s},
                       {"commit_s", x.commit_s},
                       {"compute_alone_block_s", x.alone_block_s},
                       {"compute_with_save_block_s", x.with_block_s},
                       {"compute_blocks_under_save", x.with_blocks},
                       {"compute_capped", x.capped},
                       {"commit_under_compute_s", x.with_commit_s},
                       {"compute_cpu_share_alone", x.alone_cpu_share},
                       {"compute_cpu_share_with_save", x.with_cpu_share},
                       {"other_threads_cpu_s_during_save", x.other_cpu_s},
                       {"performance_metrics", x.perf}});
    if (r == 0) continue;
    mc.push_back(x.memcpy_s);
    bl.push_back(x.blocking_s);
    bl_ratio.push_back(x.blocking_s / x.memcpy_s);
    wr.push_back(x.write_s);
    cm.push_back(x.commit_s);
    cm_ratio.push_back(x.commit_s / x.write_s);
    al.push_back(x.alone_block_s);
    wi.push_back(x.with_block_s);
    c_ratio.push_back(x.with_block_s / x.alone_block_s);
    blocks.push_back(static_cast<double>(x.with_blocks));
    wc.push_back(x.with_commit_s);
    sa.push_back(x.alone_cpu_share);
    sw.push_back(x.with_cpu_share);
    oc.push_back(x.other_cpu_s);
    for (const auto& [k, v] : x.perf.items()) {
      if (v.is_number()) perf[k].push_back(v.get<double>());
    }
  }
  const double total_gb = static_cast<double>(b.bytes) * g_size / 1e9;
  const Run& cold = runs[0];
  std::printf("\n  medians over runs 1..%d (%d rank(s)):\n", b.o.runs, g_size);
  std::printf("  %-34s %9.4fs   memcpy %9.4fs   ratio %5.2f  (target <= 1.50: %s)\n",
              "blocking: Save() returns after", Median(bl), Median(mc), Median(bl_ratio),
              Verdict(Median(bl_ratio) <= 1.5));
  std::printf("  %-34s %9.4fs   memcpy %9.4fs   ratio %5.2f\n", "  first save (cold pool, run 0)",
              cold.blocking_s, cold.memcpy_s, cold.blocking_s / cold.memcpy_s);
  std::printf("  %-34s %9.3fs   wr+fsync %7.3fs   ratio %5.2f  (%.2f GB/s vs %.2f GB/s)\n",
              "commit: Save() to WaitUntilFinished", Median(cm), Median(wr), Median(cm_ratio),
              total_gb / Median(cm), total_gb / Median(wr));
  std::printf(
      "  %-34s %8.3fms   alone %8.3fms   ratio %5.3f  (target < 1.10: %s; %.0f blocks under "
      "each save)\n",
      "compute block while saving", Median(wi) * 1e3, Median(al) * 1e3, Median(c_ratio),
      Verdict(Median(c_ratio) < 1.1), Median(blocks));
  int capped = 0;
  for (const Run& x : runs) capped += x.capped ? 1 : 0;
  std::printf(
      "  %-34s %9.3fs   without %8.3fs   ratio %5.2f  (slowest %.3fs; %d run(s) capped by --cap)\n",
      "  commit while the loop runs", Median(wc), Median(cm), Median(wc) / Median(cm),
      *std::max_element(wc.begin(), wc.end()), capped);
  std::printf(
      "    the compute thread ran %.0f%% of the wall time under the save (%.0f%% alone); the "
      "other threads used %.3f CPU-s per rank meanwhile\n",
      100 * Median(sw), 100 * Median(sa), Median(oc));
  std::printf("  library performance_metrics (rank 0, plain saves, medians):");
  int col = 0;
  for (const auto& [k, v] : perf) {
    std::printf("%s%s %.4g", col++ % 4 == 0 ? "\n    " : "   ", k.c_str(), Median(v));
  }
  std::printf("\n");
  std::fflush(stdout);
  return {{"per_run", per_run},
          {"median_blocking_s", Median(bl)},
          {"median_memcpy_s", Median(mc)},
          {"median_blocking_ratio", Median(bl_ratio)},
          {"median_commit_s", Median(cm)},
          {"median_write_fsync_s", Median(wr)},
          {"median_commit_ratio", Median(cm_ratio)},
          {"median_compute_alone_block_s", Median(al)},
          {"median_compute_with_save_block_s", Median(wi)},
          {"median_compute_ratio", Median(c_ratio)},
          {"median_commit_under_compute_s", Median(wc)},
          {"median_compute_cpu_share_alone", Median(sa)},
          {"median_compute_cpu_share_with_save", Median(sw)},
          {"median_other_threads_cpu_s", Median(oc)}};
}

json TimePhase(Bench& b) {
  auto ckpt = cairn::AsyncCheckpointer::Create(b.comm, b.ckpt_options);
  Check(ckpt.status(), "AsyncCheckpointer::Create");
  if (g_rank == 0) {
    std::printf(
        "  compute loop: %s, blocks of %.1f ms alone (%" PRId64
        " units on rank 0)\n"
        "  run 0 is the first save (the staging pool is filled: page faults); medians are over "
        "runs 1..%d\n"
        "  seconds are the slowest rank's; ratio = cairn / baseline of the same run; commit* = "
        "Save() to commit while the compute loop runs\n\n"
        "  %-4s %9s %9s %6s | %9s %9s %6s | %9s %9s %6s %6s %8s\n",
        b.compute->Describe(), b.o.block_ms, b.block_units, b.o.runs, "run", "memcpy", "Save()",
        "ratio", "wr+fsync", "commit", "ratio", "alone/blk", "save/blk", "ratio", "blocks",
        "commit*");
  }
  std::vector<Run> runs;
  for (int r = 0; r <= b.o.runs; ++r) {
    const Run run = OneRun(b, **ckpt, r);
    if (g_rank == 0) {
      std::printf(
          "  %-4d %8.4fs %8.4fs %6.2f | %8.3fs %8.3fs %6.2f | %7.3fms %7.3fms %6.3f %6" PRId64
          " %7.3fs%s\n",
          r, run.memcpy_s, run.blocking_s, run.blocking_s / run.memcpy_s, run.write_s, run.commit_s,
          run.commit_s / run.write_s, run.alone_block_s * 1e3, run.with_block_s * 1e3,
          run.with_block_s / run.alone_block_s, run.with_blocks, run.with_commit_s,
          run.capped ? " CAPPED: the save was starved while the loop ran" : "");
      std::fflush(stdout);
    }
    runs.push_back(run);
  }
  Check((*ckpt)->Close(), "Close");
  return g_rank == 0 ? Summarize(b, runs) : json();
}

// Peak extra RSS per memory configuration, each with a fresh checkpointer (an empty pool).
json RssPhase(Bench& b) {
  const int64_t limit = b.bytes / b.o.limit_fraction;
  struct Config {
    std::string name;
    bool transfer, write;
  };
  if (g_rank == 0) {
    std::printf(
        "\n  peak extra resident memory per rank (max over ranks): VmHWM during the save minus "
        "VmRSS before the checkpointer was created; limit = %.1f MiB (state / %d)\n",
        limit / kMiB, b.o.limit_fraction);
    if (!b.hwm_ok) {
      std::printf(
          "  WARNING: writing 5 to /proc/self/clear_refs does not reset VmHWM here: each figure "
          "is the peak since the process started; run one --rss-configs per process\n");
    }
    std::printf("  %-9s %4s %11s %8s %13s %8s %10s %9s %9s\n", "config", "save", "extra MiB",
                "/limit", "staging MiB", "/limit", "Save() s", "commit s", "drift MiB");
  }
  json rss = json::array();
  int step_no = 0;
  for (const Config& c : {Config{"none", false, false}, Config{"transfer", true, false},
                          Config{"write", false, true}, Config{"both", true, true}}) {
    if (!Has(b.o.rss_configs, c.name)) continue;
    cairn::CheckpointerOptions opts = b.ckpt_options;
    if (c.transfer) opts.memory_options.transfer_concurrent_bytes = limit;
    if (c.write) opts.memory_options.write_concurrent_bytes = limit;
    const bool limited = c.transfer || c.write;
    ::malloc_trim(0);  // memory freed earlier must not be reused unseen
    MPI_Barrier(MPI_COMM_WORLD);
    const int64_t base = ReadRss().rss;
    auto ckpt = cairn::AsyncCheckpointer::Create(b.comm, opts);
    Check(ckpt.status(), "AsyncCheckpointer::Create (" + c.name + ")");
    std::vector<json> saves;
    for (int s = 0; s < b.o.rss_saves; ++s) {
      ResetHwm();
      const fs::path step = b.root / ("rss_" + std::to_string(step_no++));
      SaveTimes st = TimedSave(**ckpt, step, b.state, b.save_options);
      const double extra = MaxOverRanks(static_cast<double>(ReadRss().hwm - base));
      RemoveAndSettle(step);
      saves.push_back({{"save", s},
                       {"extra_bytes", extra},
                       {"blocking_s", st.blocking},
                       {"commit_s", st.commit},
                       {"performance_metrics", st.perf}});
    }
    Check((*ckpt)->Close(), "Close");
    ckpt->reset();
    ::malloc_trim(0);
    MPI_Barrier(MPI_COMM_WORLD);
    // What the checkpointer left resident after it was destroyed.
    const double drift = MaxOverRanks(static_cast<double>(ReadRss().rss - base));
    for (json& s : saves) {
      s["drift_bytes"] = drift;
      const double extra = s["extra_bytes"].get<double>();
      const double staging = s["performance_metrics"].value("staging_peak_bytes", -1.0);
      if (g_rank == 0) {
        char ratio[32] = "-", sratio[32] = "-";
        if (limited) {
          std::snprintf(ratio, sizeof ratio, "%.3f", extra / limit);
          std::snprintf(sratio, sizeof sratio, "%.3f", staging / limit);
        }
        std::printf("  %-9s %4d %11.1f %8s %13.1f %8s %10.3f %9.3f %9.1f%s\n", c.name.c_str(),
                    s["save"].get<int>(), extra / kMiB, ratio, staging / kMiB, sratio,
                    s["blocking_s"].get<double>(), s["commit_s"].get<double>(), drift / kMiB,
                    limited ? (extra <= 1.1 * limit ? "  (<= limit + 10%: met)"
                                                    : "  (<= limit + 10%: MISSED)")
                            : "");
      }
      rss.push_back({{"config", c.name}, {"limit_bytes", limited ? limit : 0}, {"save", s}});
    }
  }
  if (g_rank == 0) std::fflush(stdout);
  return rss;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  int code = 0;
  {
    Bench b;
    Options& o = b.o;
    if (!ParseOptions(argc, argv, o, code)) {
      MPI_Finalize();
      return code;
    }
    if (provided < MPI_THREAD_MULTIPLE && g_rank == 0) {
      std::fprintf(stderr,
                   "async-bench: WARNING: MPI gave thread level %d, not MPI_THREAD_MULTIPLE: cairn "
                   "writes at the next collective call instead of in the background, so the "
                   "figures below do not measure background saves.\n",
                   provided);
    }
    int pid = static_cast<int>(::getpid());
    MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
    b.root = o.dir / ("cairn-async-bench-" + std::to_string(pid));
    if (g_rank == 0) {
      std::error_code ec;
      fs::create_directories(b.root / "baseline", ec);
      if (ec) Die("creating " + b.root.string() + ": " + ec.message());
    }
    MPI_Barrier(MPI_COMM_WORLD);

    b.arrays = MakeState(o);
    b.state = MakeTree(b.arrays);
    b.bytes = static_cast<int64_t>(b.arrays.size() * b.arrays[0].bytes());
    b.compute = std::make_unique<Compute>(o.compute);
    b.block_units = Calibrate(*b.compute, o.block_ms);
    b.hwm_ok = HwmResetWorks();
    // The background writer thread inherits the rank's CPU binding (Open MPI binds each rank to
    // one core by default for up to 2 ranks): on one core it can only take turns with the compute.
    cpu_set_t cpus;
    int my_cpus = ::sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : -1;
    MPI_Allreduce(MPI_IN_PLACE, &my_cpus, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    const int online_cpus = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));

    auto comm = cairn::MpiCommunicator(MPI_COMM_WORLD);
    Check(comm.status(), "MpiCommunicator");
    b.comm = *comm;
    b.save_options = {.backend = o.backend, .array = {.use_compression = o.compression}};
    b.ckpt_options.async_options.post_finalization_callback = [] { ++g_commits; };
    json out = {{"ranks", g_size},
                {"mib_per_rank", o.mib_per_rank},
                {"arrays", o.arrays},
                {"backend", o.backend},
                {"compression", o.compression},
                {"dir", b.root.string()},
                {"fs", FsType(o.dir)},
                {"compute", o.compute},
                {"runs", o.runs},
                {"mpi_thread_multiple", provided >= MPI_THREAD_MULTIPLE},
                {"cpus_per_rank", my_cpus},
                {"cpus_online", online_cpus},
                {"hwm_reset_works", b.hwm_ok}};
    if (g_rank == 0) {
      std::printf(
          "async-bench: %d rank(s), %.1f MiB per rank in %d float32 array(s) of %" PRId64
          " x %" PRId64
          " (global), backend %s, compression %s\n"
          "  dir %s (%s), MPI thread level %s, each rank may run on %d of %d CPU(s)%s\n"
          "  load average at start: %s\n",
          g_size, b.bytes / kMiB, o.arrays, b.arrays[0].rows_total, kCols, o.backend.c_str(),
          o.compression ? "on" : "off", b.root.c_str(), FsType(o.dir).c_str(),
          provided >= MPI_THREAD_MULTIPLE ? "MULTIPLE" : "below MULTIPLE (no background saves)",
          my_cpus, online_cpus,
          my_cpus == 1 ? " (bound: the writer thread shares the compute's core; mpirun "
                         "--bind-to none lets it use another)"
                       : "",
          LoadAverage().c_str());
    }
    if (Has(o.phases, "time")) out["time"] = TimePhase(b);
    if (Has(o.phases, "rss")) out["rss"] = RssPhase(b);

    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) {
      std::printf("  load average at end: %s\n", LoadAverage().c_str());
      std::error_code ec;
      fs::remove_all(b.root, ec);
      if (!o.json_path.empty()) {
        std::ofstream f(o.json_path);
        f << out.dump(2) << "\n";
        if (!f) Die("writing " + o.json_path);
      }
    }
    if (b.compute->sink() == 12345.f) std::printf(" \n");  // keeps the compute loop alive
  }
  MPI_Finalize();
  return code;
}
