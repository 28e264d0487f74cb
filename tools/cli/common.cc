// What the `cairn` commands share: agreement, paths, items, slabs, piece reading, output.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>

#include "cairn/communicator.h"
#include "cairn/dtype.h"
#include "../bench_util.h"
#include "cli.h"
#include "coord/commit.h"

namespace cairn_cli {

// ---- Agreement ----

void AgreeOrThrow(const Env& env, const cairn::Status& local) {
  int mine = local.ok() ? env.size : env.rank;
  int first = env.size;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, env.comm);
  if (first == env.size) return;
  std::string message;
  if (env.rank == first) {
    message = local.message();
    // Rank 0 speaks for everyone (a missing path fails every rank alike); another rank is named.
    if (first != 0) message += " (rank " + std::to_string(first) + ")";
  }
  message = [&] {
    int n = static_cast<int>(message.size());
    MPI_Bcast(&n, 1, MPI_INT, first, env.comm);
    message.resize(n);
    MPI_Bcast(message.data(), n, MPI_CHAR, first, env.comm);
    return message;
  }();
  throw CliError(message);
}

std::string BroadcastString(const Env& env, std::string s) {
  int n = static_cast<int>(s.size());
  MPI_Bcast(&n, 1, MPI_INT, 0, env.comm);
  s.resize(n);
  MPI_Bcast(s.data(), n, MPI_CHAR, 0, env.comm);
  return s;
}

std::vector<std::string> GatherStrings(const Env& env, const std::string& s) {
  int n = static_cast<int>(s.size());
  std::vector<int> sizes(env.rank == 0 ? env.size : 0), offsets;
  MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, env.comm);
  std::string all;
  if (env.rank == 0) {
    int total = 0;
    for (int v : sizes) {
      offsets.push_back(total);
      total += v;
    }
    all.resize(total);
  }
  MPI_Gatherv(s.data(), n, MPI_CHAR, all.data(), sizes.data(), offsets.data(), MPI_CHAR, 0,
              env.comm);
  std::vector<std::string> out;
  for (int r = 0; env.rank == 0 && r < env.size; ++r) out.push_back(all.substr(offsets[r], sizes[r]));
  return out;
}

// ---- Paths ----

std::optional<int64_t> StepNumberOf(std::string_view name) {
  size_t i = name.size();
  while (i > 0 && std::isdigit(static_cast<unsigned char>(name[i - 1]))) --i;
  if (i == name.size() || name.size() - i > 18) return std::nullopt;
  return std::stoll(std::string(name.substr(i)));
}

bool IsCheckpointDir(const fs::path& dir) {
  if (cairn::IsCommittedCheckpoint(dir)) return true;
  // Orbax committed by the rename alone on local disks until Aug 2026 (no commit_success.txt):
  // a final name with _CHECKPOINT_METADATA is a checkpoint there.
  std::error_code ec;
  return !cairn::IsTemporaryName(dir.filename().string()) &&
         fs::is_regular_file(dir / cairn::coord::kCheckpointMetadataFile, ec);
}

std::vector<StepEntry> ListCommittedSteps(const fs::path& root) {
  std::vector<StepEntry> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (cairn::IsTemporaryName(name) || !e.is_directory(ec)) continue;
    if (!IsCheckpointDir(e.path())) continue;
    out.push_back({name, StepNumberOf(name), e.path()});
  }
  std::sort(out.begin(), out.end(), [](const StepEntry& a, const StepEntry& b) {
    if (a.step.has_value() != b.step.has_value()) return a.step.has_value();
    if (a.step != b.step) return *a.step < *b.step;
    return a.name < b.name;
  });
  return out;
}

Target ResolveTarget(const fs::path& given) {
  Target t;
  t.path = given.lexically_normal();
  if (t.path.has_filename() == false && t.path.has_parent_path()) t.path = t.path.parent_path();
  std::error_code ec;
  const auto st = fs::status(t.path, ec);
  if (!fs::exists(st)) throw CliError(t.path.string() + ": no such directory");
  if (!fs::is_directory(st)) throw CliError(t.path.string() + ": not a directory");
  if (cairn::IsTemporaryName(t.path.filename().string())) {
    throw CliError(t.path.string() +
                   ": an uncommitted (temporary) checkpoint: a save in progress or one that was "
                   "killed; `cairn gc` removes abandoned ones");
  }
  if (IsCheckpointDir(t.path)) {
    t.is_checkpoint = true;
    return t;
  }
  t.steps = ListCommittedSteps(t.path);
  return t;
}

std::vector<fs::path> CheckpointsOf(const Target& t) {
  if (t.is_checkpoint) return {t.path};
  std::vector<fs::path> out;
  for (const auto& s : t.steps) out.push_back(s.path);
  return out;
}

std::vector<ItemInfo> ReadItems(const fs::path& checkpoint) {
  auto meta = cairn::ReadCheckpointMetadata(checkpoint);
  if (!meta.ok()) throw CliError(meta.status().message());
  std::vector<ItemInfo> items;
  auto add = [&](const std::string& name, const std::string& handler) {
    for (auto& it : items) {
      if (it.name == name) return;
    }
    ItemInfo info{name, handler, cairn::coord::ItemDirectory(checkpoint, name), std::nullopt,
                  std::nullopt};
    std::error_code ec;
    if (fs::exists(info.dir / cairn::coord::kItemMetadataFile, ec)) {
      auto tree = cairn::ReadItemMetadata(checkpoint, name);
      if (tree.ok()) {
        info.tree = std::move(*tree);
      } else {
        info.tree_error = tree.status();
      }
    }
    items.push_back(std::move(info));
  };
  if (meta->item_handlers.is_object()) {
    for (const auto& [name, handler] : meta->item_handlers.items()) {
      add(name, handler.is_string() ? handler.get<std::string>() : handler.dump());
    }
  }
  std::error_code ec;
  std::vector<std::string> extra;
  for (const auto& e : fs::directory_iterator(checkpoint, ec)) {
    if (e.is_directory(ec) && fs::exists(e.path() / cairn::coord::kItemMetadataFile, ec)) {
      extra.push_back(e.path().filename().string());
    }
  }
  std::sort(extra.begin(), extra.end());
  for (const auto& name : extra) add(name, "");
  return items;
}

// ---- Slabs and piece reading ----

std::vector<cairn::Box> SlabsOf(const cairn::Box& box, size_t element_size, int64_t max_bytes) {
  const size_t rank = box.shape.size();
  if (box.NumElements() == 0 || rank == 0) return {box};
  const int64_t max_elems = std::max<int64_t>(1, max_bytes / static_cast<int64_t>(element_size));
  // The outermost dimension d whose inner block (the extents after it) fits.
  size_t d = 0;
  int64_t inner = 1;
  for (size_t k = rank; k-- > 0;) {
    if (k + 1 < rank) inner *= box.shape[k + 1];
    if (inner * box.shape[k] <= max_elems) continue;
    d = k;
    break;
  }
  if (box.NumElements() <= max_elems) return {box};
  inner = 1;
  for (size_t k = d + 1; k < rank; ++k) inner *= box.shape[k];
  const int64_t step = std::max<int64_t>(1, max_elems / inner);
  std::vector<cairn::Box> out;
  // Iterate over the index of dims < d (one at a time) and ranges of dim d.
  std::vector<int64_t> idx(d, 0);
  while (true) {
    for (int64_t start = 0; start < box.shape[d]; start += step) {
      cairn::Box b = box;
      for (size_t k = 0; k < d; ++k) {
        b.origin[k] = box.origin[k] + idx[k];
        b.shape[k] = 1;
      }
      b.origin[d] = box.origin[d] + start;
      b.shape[d] = std::min(step, box.shape[d] - start);
      out.push_back(std::move(b));
    }
    size_t k = d;
    while (k > 0) {
      --k;
      if (++idx[k] < box.shape[k]) break;
      idx[k] = 0;
      if (k == 0) return out;
    }
    if (d == 0) return out;
  }
}

PieceReader::PieceReader(fs::path item_dir, const std::string& backend)
    : item_dir_(std::move(item_dir)) {
  auto b = cairn::MakeBackend(backend);
  if (!b.ok()) throw CliError(item_dir_.string() + ": " + b.status().message());
  backend_ = std::move(*b);
}

cairn::Status PieceReader::Read(std::span<Request> requests) {
  std::vector<cairn::ReadLeaf> leaves;
  for (auto& r : requests) {
    if (leaves.empty() || leaves.back().key_path != cairn::KeyPathString(r.leaf->key_path)) {
      cairn::ReadLeaf leaf;
      leaf.key_path = cairn::KeyPathString(r.leaf->key_path);
      for (const auto& s : r.leaf->key_path) leaf.segments.push_back(s.key);
      leaf.dtype = r.leaf->dtype;
      leaf.global_shape = r.leaf->global_shape;
      leaves.push_back(std::move(leaf));
    }
    cairn::ReadRequest q;
    q.box = r.box;
    q.dest = r.dest;
    q.stored_box = r.piece->box;
    q.location = &r.piece->location;
    q.on_filled = r.on_filled;
    leaves.back().requests.push_back(std::move(q));
  }
  static std::shared_ptr<cairn::Communicator> self = cairn::SelfCommunicator();
  cairn::BackendContext ctx;
  ctx.comm = self.get();
  ctx.item_dir = item_dir_;
  return backend_->Read(ctx, leaves);
}

// ---- Output ----

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%" PRIu64 " B", bytes);
  } else {
    std::snprintf(buf, sizeof buf, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v,
                  kUnits[u]);
  }
  return buf;
}

std::string FormatTimestamp(int64_t nanos) {
  if (nanos <= 0) return "-";
  const time_t secs = static_cast<time_t>(nanos / 1000000000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

uint64_t LeafBytes(const cairn::LeafMetadata& leaf) {
  uint64_t n = cairn::DTypeSize(leaf.dtype);
  for (int64_t e : leaf.global_shape) n *= static_cast<uint64_t>(std::max<int64_t>(e, 0));
  return n;
}

std::pair<uint64_t, uint64_t> DiskUsage(const fs::path& dir) {
  uint64_t bytes = 0, files = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      bytes += it->file_size(ec);
      ++files;
    }
  }
  return {bytes, files};
}

int64_t ParseBytes(const std::string& text, const std::string& option) {
  if (auto bytes = cairn_tools::ParseSize(text)) return *bytes;
  throw UsageError("--" + option + ": not a size: '" + text + "' (e.g. 256MiB, 1GiB)");
}

void Print(const Env& env, const std::string& text) {
  if (env.rank != 0) return;
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void PrintJson(const Env& env, const json& j) { Print(env, j.dump(1) + "\n"); }

Progress::Progress(const Env& env, std::string label, uint64_t total)
    : on_(env.progress && env.rank == 0),
      label_(std::move(label)),
      total_(total),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

Progress::~Progress() { Finish(); }

void Progress::Advance(uint64_t n) {
  done_ += n;
  Draw(false);
}

void Progress::Draw(bool force) {
  if (!on_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double frac = total_ == 0 ? 1.0 : std::min(1.0, double(done_) / double(total_));
  const int width = 30, filled = static_cast<int>(frac * width);
  const double secs = std::chrono::duration<double>(now - start_).count();
  std::string bar(filled, '#');
  bar += std::string(width - filled, '.');
  std::string rate = secs > 0.2 ? "  " + HumanBytes(uint64_t(done_ / secs)) + "/s" : "";
  std::fprintf(stdout, "\r%s [%s] %3d%% %s/%s%s\033[K", label_.c_str(), bar.c_str(),
               static_cast<int>(frac * 100), HumanBytes(done_).c_str(), HumanBytes(total_).c_str(),
               rate.c_str());
  std::fflush(stdout);
  drawn_ = true;
}

void Progress::Finish() {
  if (!on_ || !drawn_) return;
  std::fprintf(stdout, "\r\033[K");
  std::fflush(stdout);
  drawn_ = false;
  on_ = false;
}

bool ParseCommandLine(Env& env, const std::vector<std::string>& args, po::options_description desc,
                      const po::positional_options_description& positional, po::variables_map& vm,
                      const std::string& usage) {
  desc.add_options()("json", "print one JSON document instead of text")(
      "progress", "draw the progress bar even when stdout is not a terminal")("help,h", "this help");
  try {
    po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
    if (vm.count("help")) {
      // The positional arguments are in the usage line, not among the options.
      po::options_description shown("options");
      for (const auto& o : desc.options()) {
        bool is_positional = false;
        for (unsigned i = 0; i < positional.max_total_count() && i < 16; ++i) {
          is_positional = is_positional || positional.name_for_position(i) == o->long_name();
        }
        if (!is_positional) shown.add(o);
      }
      std::ostringstream os;
      os << "usage: " << usage << "\n\n" << shown << "\n";
      Print(env, os.str());
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  env.json = vm.count("json") > 0;
  // Open MPI's mpirun gives every rank's stdout a pty even when its own output goes to a file or
  // a pipe (stderr stays a pipe): the bar is drawn only when both are terminals.
  env.progress = env.rank == 0 && !env.json &&
                 (vm.count("progress") > 0 ||
                  (isatty(STDOUT_FILENO) != 0 && isatty(STDERR_FILENO) != 0));
  return true;
}

}  // namespace cairn_cli
