// replica-bench: what replication buys on save and restore, at the current rank count (issue 6).
//
//   mpirun -n 4 build/tools/replica-bench [--mib 256] [--arrays 8] [--layout full|pairs]
//       [--runs 5] [--warmup 1] [--order alternate|fixed] [--backend hdf5] [--compress]
//       [--broadcast-limit-mib 0] [--dir /tmp] [--json FILE]
//
// The state is `--arrays` float32 arrays of R x 4096 sharing `--mib` MiB (the global state, each
// replica holds all of it). `--layout full`: every rank holds every array whole (N replicas).
// `--layout pairs`: the ranks form a 2 x N/2 mesh, replicas along axis 0, each replica's copy cut
// into N/2 row blocks (rank r holds block r % (N/2)). Replicas hold the same bytes. Every run does,
// the two variants of each pair in alternating order (first in even runs, second in odd ones,
// unless `--order fixed`):
//   memcpy        each rank copies the bytes it holds into a pre-touched buffer (for scale)
//   write+fsync   each rank write()s its 1/N share of the state to its own file, then fsync
//                 (every state byte written once, in parallel: the floor the storage allows)
//   read          each rank read()s that share back (the floor of reading every byte once)
//   save          Checkpointer::Save with replica-parallel writing (use_replica_parallel on,
//                 the default: each replicated region is cut between its holders), and with
//                 use_replica_parallel = false (the lowest rank holding a region writes it all),
//                 each into a fresh step directory
//   restore       Checkpointer::Restore of the replica-parallel step, with every replica reading
//                 its pieces from storage, and with use_load_and_broadcast (the primary replica
//                 reads, then broadcasts over MPI; pairs pass the 2 x N/2 mesh)
// Each phase starts at a barrier; its time is the slowest rank's (MPI_Allreduce MAX). Restored
// bytes are compared with the saved ones after every restore (untimed); a mismatch aborts.
// Bytes written per rank come from `_CHECKPOINT_METADATA.performance_metrics
// .bytes_written_per_rank`, bytes read from each rank's RestoreReport. The page cache is not
// dropped (a shared machine): restores read a step written moments before, mostly from memory.
// Rank 0 prints the medians (GB = 1e9 bytes) and the medians of the per-run ratios; `--json FILE`
// writes them and every run's figures. The bench's folder under `--dir` is removed at the end.

#include <fcntl.h>
#include <mpi.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cairn/cairn.hpp"
#include "cairn/mpi.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;
using nlohmann::json;

namespace {

using cairn_tools::Median;
using cairn_tools::Mix;
using cairn_tools::FsType;
using cairn_tools::LoadAverage;

constexpr double kMiB = 1024.0 * 1024.0;
constexpr int64_t kCols = 4096;  // 16 KiB rows

struct Options {
  int64_t mib = 256;
  int arrays = 8;
  std::string layout = "full";
  std::string order = "alternate";
  int runs = 5;
  int warmup = 1;
  std::string backend = "hdf5";
  bool compress = false;
  int64_t broadcast_limit_mib = 0;  // 0: the library's default chunk
  fs::path dir = "/tmp";
  std::string json_path;
};

int g_rank = 0;
int g_size = 1;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "replica-bench (rank %d): %s\n", g_rank, message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

void Check(const cairn::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

void CheckErrno(bool ok, const std::string& what) {
  if (!ok) Die(what + ": " + std::strerror(errno));
}

// Returns false after printing usage or errors (rank 0), or when --help was asked.
bool ParseOptions(int argc, char** argv, Options& o, int& exit_code) {
  std::string dir = o.dir.string();
  po::options_description desc("replica-bench options");
  desc.add_options()("help,h", "this help")("mib", po::value(&o.mib)->default_value(o.mib),
                                            "global state MiB (each replica holds all)")(
      "arrays", po::value(&o.arrays)->default_value(o.arrays), "float32 arrays sharing --mib")(
      "layout", po::value(&o.layout)->default_value(o.layout),
      "full (every rank holds everything) or pairs (2 replicas, each sharded over N/2 ranks)")(
      "order", po::value(&o.order)->default_value(o.order),
      "alternate (each pair's first variant first in even runs, second in odd ones) or fixed")(
      "runs", po::value(&o.runs)->default_value(o.runs), "timed runs")(
      "warmup", po::value(&o.warmup)->default_value(o.warmup), "untimed runs first")(
      "backend", po::value(&o.backend)->default_value(o.backend), "hdf5 or reference")(
      "compress", po::bool_switch(&o.compress), "SaveOptions.array.use_compression (default off)")(
      "broadcast-limit-mib", po::value(&o.broadcast_limit_mib)->default_value(0),
      "load_and_broadcast_options.broadcast_memory_limit_bytes in MiB (0: library default)")(
      "dir", po::value(&dir)->default_value(dir), "parent of the bench's own folder")(
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
    if (o.layout != "full" && o.layout != "pairs") throw po::error("--layout: full or pairs");
    if (o.order != "alternate" && o.order != "fixed")
      throw po::error("--order: alternate or fixed");
    if (o.layout == "pairs" && g_size % 2 != 0) {
      throw po::error("--layout pairs needs an even number of ranks");
    }
    if (o.mib < 1 || o.arrays < 1 || o.runs < 1 || o.warmup < 0 || o.broadcast_limit_mib < 0) {
      throw po::error("--mib, --arrays and --runs must be positive, --warmup >= 0");
    }
  } catch (const std::exception& e) {
    if (g_rank == 0) std::cerr << "replica-bench: " << e.what() << "\n" << desc << "\n";
    exit_code = 2;
    return false;
  }
  return true;
}

// Where this rank sits: `replicas` copies of the state, each cut into `shards` row blocks.
struct Layout {
  int replicas = 1, shards = 1;
  int replica = 0, shard = 0;
};

Layout MakeLayout(const std::string& name) {
  Layout l;
  l.shards = name == "pairs" ? g_size / 2 : 1;
  l.replicas = g_size / l.shards;
  l.replica = g_rank / l.shards;
  l.shard = g_rank % l.shards;
  return l;
}

// One array's block on this rank, and the buffer restores (and the baselines) write into.
struct Array {
  int64_t rows_total = 0, row0 = 0, rows = 0;
  std::vector<float> data, target;
  size_t bytes() const { return data.size() * sizeof(float); }
};

std::vector<Array> MakeState(const Options& o, const Layout& l) {
  int64_t rows_total = (o.mib << 20) / o.arrays / (kCols * 4);
  rows_total -= rows_total % l.shards;
  if (rows_total < l.shards) Die("--mib is too small for --arrays and the layout");
  std::vector<Array> arrays(static_cast<size_t>(o.arrays));
  for (int i = 0; i < o.arrays; ++i) {
    Array& a = arrays[i];
    a.rows_total = rows_total;
    a.rows = rows_total / l.shards;
    a.row0 = a.rows * l.shard;
    a.data.resize(static_cast<size_t>(a.rows * kCols));
    a.target.assign(a.data.size(), 0.0f);  // touched now: no page faults while timed
    const uint64_t salt = Mix(static_cast<uint64_t>(i) + 1);
    for (size_t k = 0; k < a.data.size(); ++k) {  // by global index: replicas hold equal bytes
      const uint64_t h = Mix(salt ^ (static_cast<uint64_t>(a.row0 * kCols) + k));
      a.data[k] = static_cast<float>(h >> 40) * 0x1p-24f;
    }
  }
  return arrays;
}

cairn::Tree MakeTree(std::vector<Array>& arrays, bool target) {
  cairn::Tree tree;
  for (size_t i = 0; i < arrays.size(); ++i) {
    Array& a = arrays[i];
    char name[32];
    std::snprintf(name, sizeof name, "array_%03zu", i);
    tree[name] = cairn::DistributedArray{
        .dtype = cairn::DType::kFloat32,
        .global_shape = {a.rows_total, kCols},
        .pieces = {{.box = {.origin = {a.row0, 0}, .shape = {a.rows, kCols}},
                    .data = target ? a.target.data() : a.data.data()}}};
  }
  return tree;
}

// Calls fn(src, dst, n) over bytes [offset, offset + len) of this rank's arrays laid end to end
// (src in `data`, dst at the same place in `target`), in spans of at most 64 MiB.
void ForEachSpan(std::vector<Array>& arrays, int64_t offset, int64_t len,
                 const std::function<void(const char*, char*, size_t)>& fn) {
  constexpr int64_t kSpan = int64_t{64} << 20;
  for (Array& a : arrays) {
    const int64_t n = static_cast<int64_t>(a.bytes());
    if (offset >= n) {
      offset -= n;
      continue;
    }
    for (int64_t p = offset; p < n && len > 0;) {
      const int64_t take = std::min({n - p, len, kSpan});
      fn(reinterpret_cast<const char*>(a.data.data()) + p,
         reinterpret_cast<char*>(a.target.data()) + p, static_cast<size_t>(take));
      p += take;
      len -= take;
    }
    offset = 0;
    if (len == 0) return;
  }
}

// The baseline's share: bytes [replica * share, (replica + 1) * share) of what this rank holds,
// so that the N shares together are the state, each byte once.
void BaselineWrite(const fs::path& file, std::vector<Array>& arrays, int64_t offset, int64_t len) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CheckErrno(fd >= 0, "open " + file.string());
  ForEachSpan(arrays, offset, len, [&](const char* src, char*, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd, src, n);
      CheckErrno(w > 0, "write " + file.string());
      src += w;
      n -= static_cast<size_t>(w);
    }
  });
  CheckErrno(::fsync(fd) == 0, "fsync " + file.string());
  CheckErrno(::close(fd) == 0, "close " + file.string());
}

void BaselineRead(const fs::path& file, std::vector<Array>& arrays, int64_t offset, int64_t len) {
  const int fd = ::open(file.c_str(), O_RDONLY);
  CheckErrno(fd >= 0, "open " + file.string());
  ForEachSpan(arrays, offset, len, [&](const char*, char* dst, size_t n) {
    while (n > 0) {
      const ssize_t r = ::read(fd, dst, n);
      CheckErrno(r > 0, "read " + file.string() + (r == 0 ? " (short file)" : ""));
      dst += r;
      n -= static_cast<size_t>(r);
    }
  });
  ::close(fd);
}

// Runs `body` from a barrier; the slowest rank's seconds.
template <typename F>
double Timed(F&& body) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  body();
  double dt = MPI_Wtime() - t0;
  MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return dt;
}

// Everyone waits for a sync, so that the next phase starts on a quiet disk.
void Settle() {
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) ::sync();
  MPI_Barrier(MPI_COMM_WORLD);
}

// Rank 0 deletes `path`, then Settle.
void RemoveAndSettle(const fs::path& path) {
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) {
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) Die("removing " + path.string() + ": " + ec.message());
  }
  Settle();
}

void ResetTargets(std::vector<Array>& arrays) {
  for (Array& a : arrays) std::fill(a.target.begin(), a.target.end(), -1.0f);
}

void Verify(const std::vector<Array>& arrays, const std::string& who) {
  int bad = 0;
  for (const Array& a : arrays) {
    if (std::memcmp(a.data.data(), a.target.data(), a.bytes()) != 0) bad = 1;
  }
  MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (bad) Die(who + " restored different bytes than were saved");
}

// One save: its seconds, and (rank 0) the bytes each rank wrote.
struct SaveFigures {
  double seconds = 0;
  std::vector<int64_t> written;
  json perf;  // rank 0's performance_metrics (seconds per save phase)
};

SaveFigures TimedSave(cairn::Checkpointer& ckpt, const fs::path& step, const cairn::Tree& state,
                      const cairn::SaveOptions& options) {
  SaveFigures f;
  Settle();  // both variants start on a quiet disk, whichever went first
  f.seconds = Timed([&] { Check(ckpt.Save(step, state, options), "Save " + step.string()); });
  if (g_rank == 0) {
    auto m = cairn::ReadCheckpointMetadata(step);
    Check(m.status(), "ReadCheckpointMetadata " + step.string());
    f.perf = m->performance_metrics;
    const json& w = f.perf.value("bytes_written_per_rank", json::array());
    for (const json& b : w) f.written.push_back(b.get<int64_t>());
  }
  return f;
}

// One restore: its seconds and its RestoreReport figures over the ranks.
struct RestoreFigures {
  double seconds = 0;
  int64_t read_min = 0, read_max = 0, received_max = 0, broadcast_sum = 0, chunk_max = 0;
  std::string transports;
};

RestoreFigures TimedRestore(cairn::Checkpointer& ckpt, const fs::path& step, cairn::Tree& target,
                            const cairn::RestoreOptions& options) {
  RestoreFigures f;
  cairn::RestoreReport report;
  f.seconds = Timed([&] {
    auto r = ckpt.Restore(step, target, options);
    Check(r.status(), "Restore " + step.string());
    report = std::move(*r);
  });
  int64_t mins[1] = {report.bytes_read};
  int64_t maxs[3] = {report.bytes_read, report.bytes_received, report.max_broadcast_chunk_bytes};
  int64_t sum = report.bytes_broadcast;
  int kinds = 0;
  for (const std::string& t : report.broadcast_transports) kinds |= t == "mpi" ? 1 : 2;
  MPI_Allreduce(MPI_IN_PLACE, mins, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, maxs, 3, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &kinds, 1, MPI_INT, MPI_BOR, MPI_COMM_WORLD);
  f.read_min = mins[0];
  f.read_max = maxs[0];
  f.received_max = maxs[1];
  f.chunk_max = maxs[2];
  f.broadcast_sum = sum;
  f.transports = kinds == 0 ? "none" : kinds == 1 ? "mpi" : kinds == 2 ? "nccl" : "mpi+nccl";
  return f;
}

struct Run {
  double memcpy_s = 0, write_s = 0, read_s = 0;
  SaveFigures save_rp, save_single;
  RestoreFigures every, bcast;
};

json RunJson(const Run& r) {
  auto restore = [](const RestoreFigures& f) {
    return json{{"seconds", f.seconds},
                {"bytes_read_min", f.read_min},
                {"bytes_read_max", f.read_max},
                {"bytes_received_max", f.received_max},
                {"bytes_broadcast_sum", f.broadcast_sum},
                {"max_broadcast_chunk_bytes", f.chunk_max},
                {"transports", f.transports}};
  };
  return {{"memcpy_s", r.memcpy_s},
          {"write_fsync_s", r.write_s},
          {"read_s", r.read_s},
          {"save_replica_parallel",
           {{"seconds", r.save_rp.seconds},
            {"bytes_written_per_rank", r.save_rp.written},
            {"performance_metrics", r.save_rp.perf}}},
          {"save_single_replica",
           {{"seconds", r.save_single.seconds},
            {"bytes_written_per_rank", r.save_single.written},
            {"performance_metrics", r.save_single.perf}}},
          {"restore_every_replica_reads", restore(r.every)},
          {"restore_load_and_broadcast", restore(r.bcast)}};
}

// Rank 0: the table of medians, as printed lines and JSON.
json Summarize(const Options& o, const std::vector<Run>& runs, int64_t state_bytes,
               int64_t local_bytes, int64_t share) {
  auto col = [&](auto get) {
    std::vector<double> v;
    for (const Run& r : runs) v.push_back(get(r));
    return v;
  };
  auto ratio = [&](auto num, auto den) {
    std::vector<double> v;
    for (const Run& r : runs) v.push_back(num(r) / den(r));
    return Median(v);
  };
  const auto memcpy_s = [](const Run& r) { return r.memcpy_s; };
  const auto write_s = [](const Run& r) { return r.write_s; };
  const auto read_s = [](const Run& r) { return r.read_s; };
  const auto rp_s = [](const Run& r) { return r.save_rp.seconds; };
  const auto single_s = [](const Run& r) { return r.save_single.seconds; };
  const auto every_s = [](const Run& r) { return r.every.seconds; };
  const auto bcast_s = [](const Run& r) { return r.bcast.seconds; };
  auto written = [](const SaveFigures& f) {
    int64_t lo = f.written.empty() ? 0 : *std::min_element(f.written.begin(), f.written.end());
    int64_t hi = f.written.empty() ? 0 : *std::max_element(f.written.begin(), f.written.end());
    return std::pair{lo, hi};
  };
  const Run& last = runs.back();
  json rows = json::array();
  std::printf(
      "\n  medians over %d run(s); seconds are the slowest rank's; GB/s = state bytes (%.1f MiB) "
      "/ s, memcpy: bytes per rank / s\n"
      "  ratio = median of the per-run ratios of seconds (< 1: faster than the comparison), "
      "med/med = ratio of the medians; x floor = median per-run seconds / write+fsync (saves) "
      "or / read (restores)\n\n"
      "  %-28s %8s %8s %8s %8s %7s %7s %-16s %7s  %s\n",
      o.runs, state_bytes / kMiB, "variant", "median s", "min s", "max s", "GB/s", "ratio",
      "med/med", "(vs)", "x floor", "MiB per rank (min..max)");
  // `r`: the median per-run ratio against the variant whose seconds are `vs_s` (0: none).
  auto row = [&](const char* name, const std::vector<double>& s, double bytes, double r,
                 const std::vector<double>& vs_s, const char* vs, double floor,
                 const json& per_rank) {
    const double med = Median(s);
    char pbuf[64];
    std::snprintf(pbuf, sizeof pbuf, "%s %.1f..%.1f", per_rank["what"].get<std::string>().c_str(),
                  per_rank["min_bytes"].get<int64_t>() / kMiB,
                  per_rank["max_bytes"].get<int64_t>() / kMiB);
    const double mm = vs_s.empty() ? 0 : med / Median(vs_s);
    char rbuf[16] = "", mbuf[16] = "", fbuf[16] = "";
    if (r > 0) std::snprintf(rbuf, sizeof rbuf, "%.3f", r);
    if (mm > 0) std::snprintf(mbuf, sizeof mbuf, "%.3f", mm);
    if (floor > 0) std::snprintf(fbuf, sizeof fbuf, "%.2f", floor);
    std::printf("  %-28s %8.4f %8.4f %8.4f %8.3f %7s %7s %-16s %7s  %s\n", name, med,
                *std::min_element(s.begin(), s.end()), *std::max_element(s.begin(), s.end()),
                bytes / med / 1e9, rbuf, mbuf, vs, fbuf, pbuf);
    rows.push_back({{"variant", name},
                    {"median_s", med},
                    {"min_s", *std::min_element(s.begin(), s.end())},
                    {"max_s", *std::max_element(s.begin(), s.end())},
                    {"gbps", bytes / med / 1e9},
                    {"ratio", r > 0 ? json(r) : json()},
                    {"ratio_of_medians", mm > 0 ? json(mm) : json()},
                    {"ratio_vs", vs},
                    {"x_floor", floor > 0 ? json(floor) : json()},
                    {"bytes_per_rank", per_rank}});
  };
  auto range = [](const char* what, int64_t lo, int64_t hi) {
    return json{{"what", what}, {"min_bytes", lo}, {"max_bytes", hi}};
  };
  const double sb = static_cast<double>(state_bytes);
  const auto [rp_lo, rp_hi] = written(last.save_rp);
  const auto [si_lo, si_hi] = written(last.save_single);
  const std::vector<double> none;
  row("save replica-parallel", col(rp_s), sb, ratio(rp_s, single_s), col(single_s), "(vs single)",
      ratio(rp_s, write_s), range("written", rp_lo, rp_hi));
  row("save single-replica", col(single_s), sb, 0, none, "", ratio(single_s, write_s),
      range("written", si_lo, si_hi));
  row("restore load-and-broadcast", col(bcast_s), sb, ratio(bcast_s, every_s), col(every_s),
      "(vs every-reads)", ratio(bcast_s, read_s),
      range("read", last.bcast.read_min, last.bcast.read_max));
  row("restore every-replica-reads", col(every_s), sb, 0, none, "", ratio(every_s, read_s),
      range("read", last.every.read_min, last.every.read_max));
  row("baseline write+fsync 1/N", col(write_s), sb, 0, none, "", 0, range("written", share, share));
  row("baseline read 1/N", col(read_s), sb, 0, none, "", 0, range("read", share, share));
  row("memcpy (bytes held)", col(memcpy_s), static_cast<double>(local_bytes), 0, none, "", 0,
      range("copied", local_bytes, local_bytes));
  std::printf(
      "\n  load-and-broadcast (last run): %.1f MiB broadcast in all, at most %.1f MiB received by "
      "a rank, largest broadcast call %.1f MiB, transport %s\n",
      last.bcast.broadcast_sum / kMiB, last.bcast.received_max / kMiB, last.bcast.chunk_max / kMiB,
      last.bcast.transports.c_str());
  std::fflush(stdout);
  return {{"rows", rows},
          {"median_save_ratio_replica_parallel_vs_single", ratio(rp_s, single_s)},
          {"median_restore_ratio_broadcast_vs_every_reads", ratio(bcast_s, every_s)}};
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  int code = 0;
  {
    Options o;
    if (!ParseOptions(argc, argv, o, code)) {
      MPI_Finalize();
      return code;
    }
    int pid = static_cast<int>(::getpid());
    MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
    const fs::path root = o.dir / ("cairn-replica-bench-" + std::to_string(pid));
    if (g_rank == 0) {
      std::error_code ec;
      fs::create_directories(root / "baseline", ec);
      if (ec) Die("creating " + root.string() + ": " + ec.message());
    }
    MPI_Barrier(MPI_COMM_WORLD);

    const Layout layout = MakeLayout(o.layout);
    std::vector<Array> arrays = MakeState(o, layout);
    const cairn::Tree state = MakeTree(arrays, false);
    cairn::Tree target = MakeTree(arrays, true);
    int64_t local_bytes = 0;
    for (const Array& a : arrays) local_bytes += static_cast<int64_t>(a.bytes());
    const int64_t state_bytes = local_bytes * layout.shards;
    const int64_t share = local_bytes / layout.replicas;  // the N shares cover the state once

    auto comm = cairn::MpiCommunicator(MPI_COMM_WORLD);
    Check(comm.status(), "MpiCommunicator");
    auto ckpt = cairn::Checkpointer::Create(*comm);
    Check(ckpt.status(), "Checkpointer::Create");

    cairn::SaveOptions save_rp{.backend = o.backend, .array = {.use_compression = o.compress}};
    save_rp.array.use_replica_parallel = true;
    cairn::SaveOptions save_single = save_rp;
    save_single.array.use_replica_parallel = false;
    const cairn::RestoreOptions every_reads{};
    cairn::RestoreOptions bcast{};
    bcast.array.use_load_and_broadcast = true;
    auto& lb = bcast.array.load_and_broadcast_options;
    if (o.broadcast_limit_mib > 0) lb.broadcast_memory_limit_bytes = o.broadcast_limit_mib << 20;
    if (o.layout == "pairs") {  // replicas along axis 0 of a 2 x N/2 mesh, rank r at position r
      lb.replica_axis_index = 0;
      lb.mesh = cairn::RankMesh{.shape = {layout.replicas, layout.shards}, .ranks = {}};
      for (int r = 0; r < g_size; ++r) lb.mesh->ranks.push_back(r);
    }

    const int online_cpus = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
    if (g_rank == 0) {
      std::printf(
          "replica-bench: %d rank(s) on %d online CPU(s)%s, layout %s: %d replica(s) x %d "
          "shard(s), %.1f MiB state in %d float32 array(s) of %" PRId64 " x %" PRId64
          ", %.1f MiB held per rank\n"
          "  backend %s, compression %s, verify_checksums on, dir %s (%s), %d run(s) after %d "
          "warm-up(s)\n"
          "  the page cache is NOT dropped (shared machine): restores and baseline reads read "
          "files written moments before and may be served from memory, not the device\n"
          "  load average at start: %s\n",
          g_size, online_cpus,
          g_size > online_cpus ? " (OVERSUBSCRIBED: ranks take turns on the cores, and ranks "
                                 "waiting in MPI spin on the cores the working ones need)"
                               : "",
          o.layout.c_str(), layout.replicas, layout.shards, state_bytes / kMiB, o.arrays,
          arrays[0].rows_total, kCols, local_bytes / kMiB, o.backend.c_str(),
          o.compress ? "on" : "off", root.c_str(), FsType(o.dir).c_str(), o.runs, o.warmup,
          LoadAverage().c_str());
      std::printf("\n  %-6s %8s %8s %8s | %8s %8s %6s | %8s %8s %6s\n", "run", "memcpy", "wr+fsync",
                  "read", "save rp", "single", "ratio", "every", "bcast", "ratio");
      std::fflush(stdout);
    }

    const fs::path base_file = root / "baseline" / ("rank-" + std::to_string(g_rank) + ".bin");
    const int64_t base_offset = share * layout.replica;
    std::vector<Run> runs;
    for (int k = 0; k < o.warmup + o.runs; ++k) {
      Run run;
      const bool swap = o.order == "alternate" && k % 2 == 1;
      run.memcpy_s = Timed([&] {
        for (Array& a : arrays) std::memcpy(a.target.data(), a.data.data(), a.bytes());
      });
      run.write_s = Timed([&] { BaselineWrite(base_file, arrays, base_offset, share); });
      run.read_s = Timed([&] { BaselineRead(base_file, arrays, base_offset, share); });
      CheckErrno(::unlink(base_file.c_str()) == 0, "unlink " + base_file.string());
      Settle();

      const fs::path step_rp = root / ("step_" + std::to_string(k) + "_rp");
      const fs::path step_single = root / ("step_" + std::to_string(k) + "_single");
      auto do_rp = [&] { run.save_rp = TimedSave(*ckpt, step_rp, state, save_rp); };
      auto do_single = [&] { run.save_single = TimedSave(*ckpt, step_single, state, save_single); };
      if (swap) {
        do_single();
        do_rp();
      } else {
        do_rp();
        do_single();
      }
      RemoveAndSettle(step_single);

      auto do_every = [&] {
        ResetTargets(arrays);
        run.every = TimedRestore(*ckpt, step_rp, target, every_reads);
        Verify(arrays, "restore with every replica reading");
      };
      auto do_bcast = [&] {
        ResetTargets(arrays);
        run.bcast = TimedRestore(*ckpt, step_rp, target, bcast);
        Verify(arrays, "restore with load-and-broadcast");
      };
      if (swap) {
        do_bcast();
        do_every();
      } else {
        do_every();
        do_bcast();
      }
      RemoveAndSettle(step_rp);

      if (g_rank == 0) {
        std::printf("  %-6s %7.4fs %7.4fs %7.4fs | %7.3fs %7.3fs %6.3f | %7.3fs %7.3fs %6.3f\n",
                    (k < o.warmup ? "w" + std::to_string(k) : std::to_string(k - o.warmup)).c_str(),
                    run.memcpy_s, run.write_s, run.read_s, run.save_rp.seconds,
                    run.save_single.seconds, run.save_rp.seconds / run.save_single.seconds,
                    run.every.seconds, run.bcast.seconds, run.bcast.seconds / run.every.seconds);
        std::fflush(stdout);
      }
      if (k >= o.warmup) runs.push_back(std::move(run));
    }

    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) {
      json out = {{"ranks", g_size},
                  {"cpus_online", online_cpus},
                  {"layout", o.layout},
                  {"replicas", layout.replicas},
                  {"shards", layout.shards},
                  {"state_bytes", state_bytes},
                  {"bytes_per_rank", local_bytes},
                  {"arrays", o.arrays},
                  {"global_shape", {arrays[0].rows_total, kCols}},
                  {"backend", o.backend},
                  {"compression", o.compress},
                  {"broadcast_limit_bytes", o.broadcast_limit_mib << 20},
                  {"dir", root.string()},
                  {"fs", FsType(o.dir)},
                  {"page_cache_dropped", false},
                  {"runs", o.runs},
                  {"warmup", o.warmup}};
      out["summary"] = Summarize(o, runs, state_bytes, local_bytes, share);
      json per_run = json::array();
      for (const Run& r : runs) per_run.push_back(RunJson(r));
      out["per_run"] = per_run;
      std::printf("  load average at end: %s\n", LoadAverage().c_str());
      std::error_code ec;
      fs::remove_all(root, ec);
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
