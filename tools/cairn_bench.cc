// cairn-bench: save/restore throughput of cairn against a raw POSIX baseline, at the current
// rank count.
//
//   mpirun -n 4 build/tools/cairn-bench --size 1GiB --runs 5 --backend hdf5 --compression off
//       [--mode sync|async]
//   build/tools/cairn-bench --check-backend ocdbt   (no MPI: exit 0 if usable, else 3 and why)
//
// The state is one or more float32 2-D global arrays (`--leaves`) sharing `--size` bytes, each
// cut into equal row blocks, one per rank. `--blocks K` (K > 1) instead cuts each array, one row
// longer, into K x ranks row blocks of two sizes (as `n / k, + 1 for the first n % k` splits do)
// and deals them out cyclically: rank r holds blocks r, r + ranks, ... (an uneven decomposition
// whose blocks no regular chunk grid matches). Every run does (baseline first in even runs, cairn
// first in odd ones unless `--order fixed`):
//   baseline save     each rank write()s its bytes to its own file in large chunks, then fsync
//   baseline restore  each rank read()s them back into a separate buffer
//   cairn save        Checkpointer::Save into a fresh step directory (`--mode sync`, the default);
//                     with `--mode async`, AsyncCheckpointer::Save then WaitUntilFinished: the
//                     phase's time is until the commit, and the time until Save() returned
//                     (the application's blocking time, slowest rank) is recorded beside it
//   cairn restore     Checkpointer::Restore (AsyncCheckpointer::Restore with `--mode async`) into
//                     the separate buffers (same decomposition)
// Each phase is timed with MPI_Wtime between barriers; the time of a phase is the slowest rank's.
// Between a save and its restore every file written is dropped from the page cache
// (fsync + posix_fadvise(POSIX_FADV_DONTNEED), outside the timed region) unless `--cold off`,
// so both restores read from the device. Restored bytes are compared with the saved ones after
// every restore (outside the timed region); a mismatch aborts. Outputs are deleted between runs.
// Rank 0 prints the medians (GB = 1e9 bytes), min/max and cairn/baseline ratios; `--json FILE`
// writes the same and every run's timings. In async mode the first save also fills the
// checkpointer's staging pool (page faults): `--warmup 1` leaves it out of the medians.

#include <fcntl.h>
#include <mpi.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cairn/args.h"
#include "cairn/async_checkpointer.h"
#include "cairn/backend.h"
#include "cairn/checkpointer.h"
#include "cairn/mpi.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;
using nlohmann::json;

namespace {

using cairn_tools::Median;
using cairn_tools::Mix;
using cairn_tools::FsType;
using cairn_tools::ParseOnOff;
using cairn_tools::ParseSize;

struct Options {
  int64_t size = int64_t{1} << 30;
  int leaves = 1;
  int runs = 5;
  int warmup = 0;
  std::string backend = "hdf5";
  bool async = false;  // --mode async: AsyncCheckpointer
  bool compression = false;
  int level = 3;
  bool cold = true;
  bool verify_checksums = true;
  std::string fill = "hash";
  std::string order = "alternate";
  bool shared_file = false;
  int64_t chunk = int64_t{64} << 20;
  int blocks = 1;  // row blocks per rank (> 1: uneven, dealt out cyclically)
  int64_t cols = 4096;  // most columns per array
  fs::path dir;
  std::string json_path;
};

int g_rank = 0;
int g_size = 1;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "cairn-bench (rank %d): %s\n", g_rank, message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}


// Returns false after printing usage/errors (rank 0), or when --help was asked.
bool ParseOptions(int argc, char** argv, Options& o, int& exit_code) {
  std::string baseline = "file-per-rank";
  std::string size = "1GiB", compression = "off", cold = "on", verify = "on", chunk = "64MiB";
  std::string mode = "sync";
  std::string dir;
  po::options_description desc("cairn-bench options");
  desc.add_options()("help,h", "this help")("size", po::value(&size)->default_value(size),
                                            "total state bytes over all ranks (1GiB, 100MB)")(
      "leaves", po::value(&o.leaves)->default_value(o.leaves), "number of arrays sharing --size")(
      "runs", po::value(&o.runs)->default_value(o.runs), "timed repetitions")(
      "warmup", po::value(&o.warmup)->default_value(o.warmup), "untimed repetitions first")(
      "backend", po::value(&o.backend)->default_value(o.backend),
      "cairn backend (hdf5, reference)")(
      "mode", po::value(&mode)->default_value(mode),
      "sync (Checkpointer) or async (AsyncCheckpointer: save timed until the commit, blocking "
      "time beside it)")("compression", po::value(&compression)->default_value(compression),
                         "zstd in cairn: on|off")(
      "level", po::value(&o.level)->default_value(o.level), "zstd level when compressing")(
      "cold", po::value(&cold)->default_value(cold),
      "drop written files from the page cache before each restore: on|off")(
      "verify-checksums", po::value(&verify)->default_value(verify),
      "RestoreOptions.verify_checksums: on|off")(
      "fill", po::value(&o.fill)->default_value(o.fill),
      "data: hash (random mantissas), smooth (a smooth field plus low-bit noise)")(
      "order", po::value(&o.order)->default_value(o.order),
      "alternate (baseline first in even runs, cairn first in odd) or fixed (baseline first)")(
      "baseline", po::value(&baseline)->default_value(baseline),
      "baseline layout: file-per-rank, or shared (one file, each rank at its offset)")(
      "chunk", po::value(&chunk)->default_value(chunk), "baseline write()/read() size")(
      "cols", po::value(&o.cols)->default_value(o.cols),
      "columns of each array (fewer when the array is small); 1: a column vector")(
      "blocks", po::value(&o.blocks)->default_value(o.blocks),
      "row blocks per rank; > 1: uneven blocks dealt out cyclically (see the top)")(
      "dir", po::value(&dir), "output directory (default: /tmp/cairn-bench-<pid of rank 0>)")(
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
    auto s = ParseSize(size);
    if (!s) throw po::error("bad --size '" + size + "'");
    o.size = *s;
    auto c = ParseSize(chunk);
    if (!c) throw po::error("bad --chunk '" + chunk + "'");
    o.chunk = *c;
    o.compression = ParseOnOff(compression, "compression");
    o.cold = ParseOnOff(cold, "cold");
    o.verify_checksums = ParseOnOff(verify, "verify-checksums");
    if (o.fill != "hash" && o.fill != "smooth") throw po::error("--fill takes hash or smooth");
    if (mode != "sync" && mode != "async") throw po::error("--mode takes sync or async");
    o.async = mode == "async";
    if (baseline != "file-per-rank" && baseline != "shared") {
      throw po::error("--baseline takes file-per-rank or shared");
    }
    o.shared_file = baseline == "shared";
    if (o.order != "alternate" && o.order != "fixed") {
      throw po::error("--order takes alternate or fixed");
    }
    if (o.leaves < 1 || o.runs < 1 || o.warmup < 0) {
      throw po::error("--leaves and --runs must be >= 1, --warmup >= 0");
    }
  } catch (const std::exception& e) {
    if (g_rank == 0) std::cerr << "cairn-bench: " << e.what() << "\n" << desc << "\n";
    exit_code = 2;
    return false;
  }
  if (!dir.empty()) o.dir = dir;
  return true;
}

// One leaf's local blocks: rows [row0, row0 + rows) of a rows_total x cols float32 array each,
// stored one after the other in `data`.
struct Block {
  int64_t row0 = 0, rows = 0;
};
struct Leaf {
  int64_t rows_total = 0, cols = 0, rows = 0;  // rows: of all blocks
  std::vector<Block> blocks;
  std::vector<float> data, restored;
  int64_t bytes() const { return rows * cols * static_cast<int64_t>(sizeof(float)); }
};

void Fill(Leaf& leaf, int leaf_index, const std::string& kind) {
  const uint64_t salt = Mix(static_cast<uint64_t>(leaf_index) + 1);
  int64_t r = 0;  // local row
  for (const Block& b : leaf.blocks) for (int64_t gr = b.row0; gr < b.row0 + b.rows; ++gr, ++r) {
    float* row = leaf.data.data() + r * leaf.cols;
    for (int64_t c = 0; c < leaf.cols; ++c) {
      const uint64_t h = Mix(salt ^ static_cast<uint64_t>(gr * leaf.cols + c));
      if (kind == "hash") {
        row[c] = static_cast<float>(h >> 40) * 0x1p-24f;  // uniform in [0, 1): 24 random bits
      } else {
        // A smooth field (cheap separable waves) with noise in the lowest 8 mantissa bits.
        const float x = static_cast<float>(gr) * 1e-3f, y = static_cast<float>(c) * 1e-3f;
        float v = 1.0f + 0.5f * x * (1.0f - 0.1f * x) + 0.25f * y * y;
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        bits = (bits & ~0xFFu) | static_cast<uint32_t>(h & 0xFF);
        std::memcpy(&row[c], &bits, 4);
      }
    }
  }
}

// Decomposition: each leaf is (nranks * rows_per_rank) x cols with cols <= 4096 (16 KiB rows).
std::vector<Leaf> MakeState(const Options& o) {
  const int64_t leaf_elems = o.size / static_cast<int64_t>(sizeof(float)) / o.leaves;
  int64_t cols = std::max<int64_t>(o.cols, 1);
  while (cols > 1 && leaf_elems / cols < g_size) cols /= 2;
  const int64_t rows_per_rank = leaf_elems / cols / g_size;
  if (rows_per_rank < 1) Die("--size is too small for " + std::to_string(g_size) + " ranks");
  std::vector<Leaf> leaves(static_cast<size_t>(o.leaves));
  for (int i = 0; i < o.leaves; ++i) {
    Leaf& l = leaves[i];
    l.cols = cols;
    if (o.blocks <= 1) {
      l.rows_total = rows_per_rank * g_size;
      l.blocks = {{rows_per_rank * g_rank, rows_per_rank}};
    } else {
      const int64_t k = int64_t{o.blocks} * g_size;
      l.rows_total = std::max<int64_t>(rows_per_rank * g_size / k, 1) * k + 1;
      const int64_t base = l.rows_total / k, extra = l.rows_total % k;
      for (int64_t b = g_rank; b < k; b += g_size) {
        l.blocks.push_back({b * base + std::min(b, extra), base + (b < extra ? 1 : 0)});
      }
    }
    l.rows = 0;
    for (const Block& b : l.blocks) l.rows += b.rows;
    l.data.resize(static_cast<size_t>(l.rows * l.cols));
    l.restored.assign(l.data.size(), 0.0f);  // touched now: no page faults while timed
    Fill(l, i, o.fill);
  }
  return leaves;
}

cairn::Tree MakeTree(std::vector<Leaf>& leaves, bool restored) {
  cairn::Tree tree;
  for (size_t i = 0; i < leaves.size(); ++i) {
    Leaf& l = leaves[i];
    char name[32];
    std::snprintf(name, sizeof name, "leaf_%04zu", i);
    cairn::DistributedArray a{.dtype = cairn::DType::kFloat32,
                              .global_shape = {l.rows_total, l.cols}};
    float* at = restored ? l.restored.data() : l.data.data();
    for (const Block& b : l.blocks) {
      a.pieces.push_back({.box = {.origin = {b.row0, 0}, .shape = {b.rows, l.cols}}, .data = at});
      at += b.rows * l.cols;
    }
    tree[name] = std::move(a);
  }
  return tree;
}

void Check(const cairn::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

void CheckErrno(bool ok, const std::string& what) {
  if (!ok) Die(what + ": " + std::strerror(errno));
}

// Flushes a file and drops its pages from the page cache.
void DropFromCache(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY);
  CheckErrno(fd >= 0, "open " + file.string());
  CheckErrno(::fsync(fd) == 0, "fsync " + file.string());
  const int err = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  if (err != 0) Die("posix_fadvise " + file.string() + ": " + std::strerror(err));
  ::close(fd);
}

// Every regular file under `dir` (all ranks do it: on a cluster each node has its own cache).
void DropTreeFromCache(const fs::path& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) DropFromCache(e.path());
  }
}

int64_t TreeBytes(const fs::path& dir) {
  int64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += static_cast<int64_t>(e.file_size());
  }
  return total;
}

void ResetRestored(std::vector<Leaf>& leaves) {
  for (Leaf& l : leaves) std::fill(l.restored.begin(), l.restored.end(), -1.0f);
}

void Verify(const std::vector<Leaf>& leaves, const char* who, int run) {
  int bad = 0;
  for (const Leaf& l : leaves) {
    if (std::memcmp(l.data.data(), l.restored.data(), static_cast<size_t>(l.bytes())) != 0) bad = 1;
  }
  MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (bad)
    Die(std::string(who) + " restore of run " + std::to_string(run) +
        " returned different bytes than were saved");
}

// After deleting a run's files: let the file system write back and discard them before the
// next timed phase starts.
void Settle() {
  MPI_Barrier(MPI_COMM_WORLD);
  ::sync();
  MPI_Barrier(MPI_COMM_WORLD);
}

// Runs `body` between barriers; the slowest rank's seconds.
template <typename F>
double Timed(F&& body) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  body();
  MPI_Barrier(MPI_COMM_WORLD);
  double dt = MPI_Wtime() - t0;
  MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return dt;
}

// `offset`: where this rank's bytes start in `file` (0 for a file per rank; rank * bytes for
// one shared file, which on a local file system serialises the ranks' copies on the inode lock).
void BaselineWrite(const fs::path& file, int64_t offset, const std::vector<Leaf>& leaves,
                   int64_t chunk) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT, 0644);
  CheckErrno(fd >= 0, "open " + file.string());
  CheckErrno(::lseek(fd, offset, SEEK_SET) == offset, "lseek " + file.string());
  for (const Leaf& l : leaves) {
    const char* p = reinterpret_cast<const char*>(l.data.data());
    int64_t left = l.bytes();
    while (left > 0) {
      const ssize_t n = ::write(fd, p, static_cast<size_t>(std::min(left, chunk)));
      CheckErrno(n > 0, "write " + file.string());
      p += n;
      left -= n;
    }
  }
  CheckErrno(::fsync(fd) == 0, "fsync " + file.string());
  CheckErrno(::close(fd) == 0, "close " + file.string());
}

void BaselineRead(const fs::path& file, int64_t offset, std::vector<Leaf>& leaves, int64_t chunk) {
  const int fd = ::open(file.c_str(), O_RDONLY);
  CheckErrno(fd >= 0, "open " + file.string());
  CheckErrno(::lseek(fd, offset, SEEK_SET) == offset, "lseek " + file.string());
  for (Leaf& l : leaves) {
    char* p = reinterpret_cast<char*>(l.restored.data());
    int64_t left = l.bytes();
    while (left > 0) {
      const ssize_t n = ::read(fd, p, static_cast<size_t>(std::min(left, chunk)));
      CheckErrno(n > 0, "read " + file.string() + (n == 0 ? " (short file)" : ""));
      p += n;
      left -= n;
    }
  }
  ::close(fd);
}

struct Series {
  std::vector<double> seconds;
  double Gbps(double s, int64_t bytes) const { return static_cast<double>(bytes) / s / 1e9; }
  std::vector<double> Rates(int64_t bytes) const {
    std::vector<double> r;
    for (double s : seconds) r.push_back(Gbps(s, bytes));
    std::sort(r.begin(), r.end());
    return r;
  }
};

// `--check-backend NAME`, answered before MPI starts (the sweep asks on a login node): exit 0
// if the registry can make NAME, else 3 with the registry's reason ("not built with ...",
// "unknown storage backend ..."). Usable backends are not constructed.
std::optional<int> CheckBackend(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) != "--check-backend") continue;
    const std::string name = argv[i + 1];
    const auto names = cairn::BackendNames();
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      std::printf("%s: usable\n", name.c_str());
      return 0;
    }
    auto backend = cairn::MakeBackend(name);
    std::string usable;
    for (const auto& n : names) usable += (usable.empty() ? "" : " ") + n;
    std::printf("%s: %s (usable: %s)\n", name.c_str(),
                backend.ok() ? "not listed" : backend.status().ToString().c_str(), usable.c_str());
    return 3;
  }
  return std::nullopt;
}

// Whether argv asks for `--mode async`, read before MPI starts: an async save writes in the
// background only under MPI_THREAD_MULTIPLE (below it, cairn writes at the next collective call).
bool WantsAsync(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mode=async" ||
        (a == "--mode" && i + 1 < argc && std::string(argv[i + 1]) == "async"))
      return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (auto code = CheckBackend(argc, argv)) return *code;
  const int thread_level = WantsAsync(argc, argv) ? MPI_THREAD_MULTIPLE : MPI_THREAD_FUNNELED;
  int provided = 0;
  MPI_Init_thread(&argc, &argv, thread_level, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  int code = 0;
  {
    Options o;
    if (!ParseOptions(argc, argv, o, code)) {
      MPI_Finalize();
      return code;
    }
    if (o.dir.empty()) {
      int pid = static_cast<int>(::getpid());
      MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
      o.dir = fs::path("/tmp") / ("cairn-bench-" + std::to_string(pid));
    }
    const fs::path base_dir = o.dir / "baseline", ckpt_root = o.dir / "cairn";
    if (g_rank == 0) {
      std::error_code ec;
      fs::create_directories(base_dir, ec);
      if (ec) Die("creating " + base_dir.string() + ": " + ec.message());
      fs::create_directories(ckpt_root, ec);
      if (ec) Die("creating " + ckpt_root.string() + ": " + ec.message());
    }
    MPI_Barrier(MPI_COMM_WORLD);

    std::vector<Leaf> leaves = MakeState(o);
    int64_t bytes = 0;
    for (const Leaf& l : leaves) bytes += l.bytes();
    MPI_Allreduce(MPI_IN_PLACE, &bytes, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);

    auto comm = cairn::MpiCommunicator(MPI_COMM_WORLD);
    Check(comm.status(), "MpiCommunicator");
    // One checkpointer for all runs, as an application keeps one (async: its staging pool too).
    std::optional<cairn::Checkpointer> ckpt;
    std::unique_ptr<cairn::AsyncCheckpointer> async_ckpt;
    if (o.async) {
      auto c = cairn::AsyncCheckpointer::Create(*comm);
      Check(c.status(), "AsyncCheckpointer::Create");
      async_ckpt = std::move(*c);
    } else {
      auto c = cairn::Checkpointer::Create(*comm);
      Check(c.status(), "Checkpointer::Create");
      ckpt.emplace(std::move(*c));
    }
    const cairn::Tree state = MakeTree(leaves, false);
    cairn::Tree target = MakeTree(leaves, true);
    const cairn::SaveOptions save_options{
        .backend = o.backend,
        .array = {.use_compression = o.compression, .compression_level = o.level}};
    const cairn::RestoreOptions restore_options{.verify_checksums = o.verify_checksums};

    Series base_save, base_restore, cairn_save, cairn_restore;
    Series cairn_blocking;  // async: Save() until it returned; sync: the whole save
    std::vector<double> stored_ratio;
    int64_t local_bytes = 0;
    for (const Leaf& l : leaves) local_bytes += l.bytes();
    const fs::path my_file =
        base_dir / (o.shared_file ? "shared.bin" : "rank-" + std::to_string(g_rank) + ".bin");
    const int64_t my_offset = o.shared_file ? local_bytes * g_rank : 0;
    for (int run = -o.warmup; run < o.runs; ++run) {
      const bool timed = run >= 0;
      double bw = 0, br = 0, cw = 0, cr = 0, cb = 0;
      auto baseline = [&] {
        ResetRestored(leaves);
        bw = Timed([&] { BaselineWrite(my_file, my_offset, leaves, o.chunk); });
        if (o.cold) DropTreeFromCache(base_dir);
        br = Timed([&] { BaselineRead(my_file, my_offset, leaves, o.chunk); });
        Verify(leaves, "baseline", run);
        MPI_Barrier(MPI_COMM_WORLD);
        if (!o.shared_file || g_rank == 0) {
          CheckErrno(::unlink(my_file.c_str()) == 0, "unlink " + my_file.string());
        }
        Settle();
      };
      auto with_cairn = [&] {
        ResetRestored(leaves);
        const fs::path step = ckpt_root / std::to_string(run + o.warmup);
        if (o.async) {
          // Blocking: until Save() returns on the slowest rank; the phase: until the commit.
          cw = Timed([&] {
            const double t0 = MPI_Wtime();
            Check(async_ckpt->Save(step, cairn::StandardSave{state}, save_options), "Save");
            cb = MPI_Wtime() - t0;
            Check(async_ckpt->WaitUntilFinished(), "WaitUntilFinished");
          });
          MPI_Allreduce(MPI_IN_PLACE, &cb, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        } else {
          cw = Timed([&] { Check(ckpt->Save(step, state, save_options), "Save"); });
          cb = cw;
        }
        if (o.cold) DropTreeFromCache(step);
        cr = Timed([&] {
          if (o.async) {
            Check(
                async_ckpt->Restore(step, cairn::StandardRestore{.item = &target}, restore_options),
                "Restore");
          } else {
            auto r = ckpt->Restore(step, target, restore_options);
            Check(r.status(), "Restore");
          }
        });
        Verify(leaves, "cairn", run);
        if (g_rank == 0) {
          if (timed) stored_ratio.push_back(static_cast<double>(bytes) / TreeBytes(step));
          std::error_code ec;
          fs::remove_all(step, ec);
          if (ec) Die("removing " + step.string() + ": " + ec.message());
        }
        Settle();
      };
      // Alternating removes any advantage of going first (a quieter device, a warmer cache).
      if (o.order == "fixed" || (run + o.warmup) % 2 == 0) {
        baseline();
        with_cairn();
      } else {
        with_cairn();
        baseline();
      }
      if (timed) {
        base_save.seconds.push_back(bw);
        base_restore.seconds.push_back(br);
        cairn_save.seconds.push_back(cw);
        cairn_restore.seconds.push_back(cr);
        cairn_blocking.seconds.push_back(cb);
      }
      if (g_rank == 0) {
        std::fprintf(stderr,
                     "%s %d: baseline save %.3fs restore %.3fs | cairn save %.3fs "
                     "restore %.3fs",
                     timed ? "run" : "warmup", timed ? run : run + o.warmup, bw, br, cw, cr);
        if (o.async) std::fprintf(stderr, " (Save() blocked %.3fs)", cb);
        std::fprintf(stderr, "\n");
      }
    }

    if (g_rank == 0) {
      std::error_code ec;
      fs::remove_all(o.dir, ec);
      json out = {{"mode", o.async ? "async" : "sync"},
                  {"mpi_thread_multiple", provided >= MPI_THREAD_MULTIPLE},
                  {"ranks", g_size},
                  {"bytes", bytes},
                  {"leaves", o.leaves},
                  {"global_shape", {leaves[0].rows_total, leaves[0].cols}},
                  {"backend", o.backend},
                  {"compression", o.compression},
                  {"compression_level", o.level},
                  {"fill", o.fill},
                  {"cold", o.cold},
                  {"verify_checksums", o.verify_checksums},
                  {"dir", o.dir.string()},
                  {"fs", FsType(o.dir.parent_path())},
                  {"order", o.order},
                  {"baseline", o.shared_file ? "shared" : "file-per-rank"},
                  {"runs", o.runs},
                  {"warmup", o.warmup}};
      std::printf("cairn-bench: %d rank(s), %.3f GiB (%" PRId64 " bytes) in %d leaf(s) of %" PRId64
                  " x %" PRId64
                  " float32, backend %s, compression %s, fill %s, cold %s, baseline %s\n"
                  "  dir %s (%s), %d run(s); GB/s = 1e9 bytes/s, slowest rank, between barriers\n",
                  g_size, static_cast<double>(bytes) / 0x1p30, bytes, o.leaves,
                  leaves[0].rows_total, leaves[0].cols, o.backend.c_str(),
                  o.compression ? ("on (zstd " + std::to_string(o.level) + ")").c_str() : "off",
                  o.fill.c_str(), o.cold ? "on" : "off",
                  o.shared_file ? "shared file" : "file per rank", o.dir.c_str(),
                  FsType(o.dir.parent_path()).c_str(), o.runs);
      if (o.async) {
        std::printf(
            "  mode async: cairn save = AsyncCheckpointer::Save() until WaitUntilFinished() "
            "(the commit)%s\n",
            provided >= MPI_THREAD_MULTIPLE
                ? ""
                : "; WARNING: no MPI_THREAD_MULTIPLE, so the write happens in WaitUntilFinished");
      }
      std::printf("  %-8s %10s %8s %8s   %10s %8s %8s   %7s\n", "phase", "base med", "min", "max",
                  "cairn med", "min", "max", "ratio");
      auto row = [&](const char* name, const Series& b, const Series& c) {
        const auto rb = b.Rates(bytes), rc = c.Rates(bytes);
        const double mb = Median(rb), mc = Median(rc);
        std::printf("  %-8s %10.3f %8.3f %8.3f   %10.3f %8.3f %8.3f   %6.3fx\n", name, mb,
                    rb.front(), rb.back(), mc, rc.front(), rc.back(), mc / mb);
        out["phases"][name] = {{"baseline",
                                {{"median_gbps", mb},
                                 {"min_gbps", rb.front()},
                                 {"max_gbps", rb.back()},
                                 {"median_seconds", Median(b.seconds)},
                                 {"seconds", b.seconds}}},
                               {"cairn",
                                {{"median_gbps", mc},
                                 {"min_gbps", rc.front()},
                                 {"max_gbps", rc.back()},
                                 {"median_seconds", Median(c.seconds)},
                                 {"seconds", c.seconds}}},
                               {"ratio", mc / mb}};
      };
      row("save", base_save, cairn_save);
      row("restore", base_restore, cairn_restore);
      // What the application waits for: all of a sync save, Save() alone for an async one.
      // blocking_ratio = cairn blocking seconds / baseline write+fsync seconds (medians).
      {
        const double mb = Median(cairn_blocking.seconds);
        const auto& bs = cairn_blocking.seconds;
        const double ratio = mb / Median(base_save.seconds);
        out["phases"]["save"]["cairn"]["median_blocking_seconds"] = mb;
        out["phases"]["save"]["cairn"]["blocking_seconds"] = bs;
        out["phases"]["save"]["blocking_ratio"] = ratio;
        if (o.async) {
          std::printf(
              "  save blocking (Save() returns): median %.3f s, min %.3f, max %.3f; "
              "%.3fx the baseline write+fsync time\n",
              mb, *std::min_element(bs.begin(), bs.end()), *std::max_element(bs.begin(), bs.end()),
              ratio);
        }
      }
      const double ratio = Median(stored_ratio);
      out["compression_ratio"] = ratio;
      std::printf("  compression ratio (raw state bytes / checkpoint directory bytes): %.3f\n",
                  ratio);
      if (!o.json_path.empty()) {
        std::ofstream f(o.json_path);
        f << out.dump(2) << "\n";
        if (!f) Die("writing " + o.json_path);
      }
      std::fflush(stdout);
    }
  }
  MPI_Finalize();
  return code;
}
