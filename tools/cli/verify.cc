// cairn verify: recompute every stored piece's XXH3-64 and check that the pieces of each array
// tile its global shape, for one checkpoint or every committed step of a root.
//
// Every rank reads the metadata itself and computes the same plan: the structural findings
// (unreadable metadata, pieces outside the shape, overlaps, missing regions) and an assignment of
// pieces to ranks (largest first, to the least-loaded rank). Each rank then reads its pieces on
// its own (PieceReader over a one-rank communicator), in slabs batched into reads of at most
// --memory bytes, and the findings meet on rank 0. The only collectives are the agreements on the
// target and the plan and the final gather, which every rank reaches whatever it found.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <queue>

#include "base/box_ops.h"
#include "base/checksum.h"
#include "cairn/dtype.h"
#include "checkpoint/builtin_handlers.h"
#include "cli.h"
#include "coord/commit.h"

namespace cairn_cli {
namespace {

using cairn::Box;
using cairn::LeafMetadata;
using cairn::PieceMetadata;

// `s` with invalid UTF-8 replaced (file names, library messages), so JSON output cannot throw.
std::string Utf8(const std::string& s) {
  return json::parse(json(s).dump(-1, ' ', false, json::error_handler_t::replace))
      .get<std::string>();
}

// One problem found. `key` orders findings the same way at every rank count:
// {checkpoint, item, leaf, piece, kind}, -1 where a level does not apply.
struct Finding {
  std::vector<int64_t> key;
  std::string item, key_path;
  std::optional<Box> box;
  int writer_rank = 0;
  std::string problem, file;

  json ToJson() const {
    json j = {{"item", Utf8(item)},
              {"key_path", Utf8(key_path)},
              {"problem", Utf8(problem)},
              {"file", Utf8(file)}};
    j["piece"] =
        box ? json{{"origin", box->origin}, {"shape", box->shape}, {"writer_rank", writer_rank}}
            : json(nullptr);
    return j;
  }
  static Finding FromJson(const json& j) {
    Finding f{j.at("k").get<std::vector<int64_t>>(), j.at("item").get<std::string>(),
              j.at("key_path").get<std::string>()};
    if (!j.at("piece").is_null()) {
      f.box = Box{j["piece"]["origin"].get<std::vector<int64_t>>(),
                  j["piece"]["shape"].get<std::vector<int64_t>>()};
      f.writer_rank = j["piece"]["writer_rank"].get<int>();
    }
    f.problem = j.at("problem").get<std::string>();
    f.file = j.at("file").get<std::string>();
    return f;
  }
};

struct CheckpointPlan {
  fs::path path;
  std::vector<ItemInfo> items;
  size_t leaves = 0, pieces = 0;
  uint64_t bytes = 0;
};

// One stored piece to read and hash.
struct Work {
  size_t ckpt, item, leaf, piece;
  uint64_t bytes;
};

// The file a piece lives in, for messages: its location's "file", else the backend's data file.
std::string PieceFile(const std::string& backend, const PieceMetadata& p) {
  if (p.location.is_object() && p.location.contains("file") && p.location["file"].is_string()) {
    return p.location["file"].get<std::string>();
  }
  return backend == "hdf5" ? "data.h5" : "";
}

std::string BoxesText(const std::vector<Box>& boxes) {
  std::string s;
  for (size_t i = 0; i < boxes.size() && i < 3; ++i) s += (i ? ", " : "") + boxes[i].ToString();
  if (boxes.size() > 3) s += " and " + std::to_string(boxes.size() - 3) + " more";
  return s;
}

// Pieces outside the shape, overlapping pieces and regions no piece covers. Returns which pieces
// have a box that can be read (rank and extents fit the global shape).
std::vector<bool> CheckTiling(
    const LeafMetadata& leaf,
    const std::function<void(int64_t piece, std::string problem)>& report) {
  const auto& pieces = leaf.pieces;
  const size_t rank = leaf.global_shape.size();
  std::vector<bool> valid(pieces.size());
  std::vector<size_t> order;
  int64_t covered = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const Box& b = pieces[i].box;
    bool ok = b.origin.size() == rank && b.shape.size() == rank;
    for (size_t d = 0; ok && d < rank; ++d) ok = b.shape[d] >= 0 && b.origin[d] >= 0;
    ok = ok && cairn::base::WithinShape(b, leaf.global_shape);
    valid[i] = ok;
    if (!ok) {
      report(static_cast<int64_t>(i),
             "lies outside the global shape " + ShapeText(leaf.global_shape));
      continue;
    }
    covered += b.NumElements();
    if (b.NumElements() > 0) order.push_back(i);
  }
  // Overlaps: sweep along the first dimension (pieces are few per leaf, usually one per rank).
  auto lo = [&](size_t i) { return rank ? pieces[i].box.origin[0] : 0; };
  auto hi = [&](size_t i) { return rank ? lo(i) + pieces[i].box.shape[0] : 1; };
  std::vector<size_t> sorted = order;
  std::stable_sort(sorted.begin(), sorted.end(), [&](size_t a, size_t b) { return lo(a) < lo(b); });
  bool overlaps = false;
  std::vector<std::pair<size_t, size_t>> pairs;
  for (size_t x = 0; x < sorted.size(); ++x) {
    for (size_t y = x + 1; y < sorted.size() && lo(sorted[y]) < hi(sorted[x]); ++y) {
      const size_t a = std::min(sorted[x], sorted[y]), b = std::max(sorted[x], sorted[y]);
      if (rank == 0 || cairn::base::Intersect(pieces[a].box, pieces[b].box))
        pairs.push_back({a, b});
    }
  }
  std::sort(pairs.begin(), pairs.end());
  for (const auto& [a, b] : pairs) {
    overlaps = true;
    report(static_cast<int64_t>(a), "overlapping pieces: overlaps piece " +
                                        pieces[b].box.ToString() + " written by rank " +
                                        std::to_string(pieces[b].writer_rank));
  }
  const int64_t volume = cairn::base::NumElements(leaf.global_shape);
  if (!overlaps && covered == volume) return valid;
  // Something is not covered (or overlaps hide a gap): name the uncovered boxes.
  std::vector<Box> missing = {cairn::base::WholeBox(leaf.global_shape)};
  if (volume == 0) missing.clear();
  for (size_t i : order) {
    std::vector<Box> next;
    for (const Box& m : missing) {
      for (Box& r : cairn::base::Subtract(m, pieces[i].box)) next.push_back(std::move(r));
    }
    missing = std::move(next);
    if (missing.size() > 100000) break;  // pathological tilings: the count below still holds
  }
  int64_t uncovered = 0;
  for (const Box& m : missing) uncovered += m.NumElements();
  if (uncovered == 0 && !overlaps) uncovered = volume - covered;
  if (uncovered > 0) {
    std::sort(missing.begin(), missing.end(),
              [](const Box& a, const Box& b) { return a.origin < b.origin; });
    report(-1, "missing region " + BoxesText(missing) + " (" + std::to_string(uncovered) + " of " +
                   std::to_string(volume) + " elements in no piece)");
  }
  return valid;
}

// Items without a cairn `_METADATA`: their files must be readable, a JSON `metadata` must parse.
void CheckFiles(const ItemInfo& item, const std::function<void(std::string, std::string)>& report) {
  std::error_code ec;
  if (!fs::is_directory(item.dir, ec)) {
    report("item directory " + item.dir.filename().string() + " is missing", "");
    return;
  }
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(item.dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec)) files.push_back(it->path());
  }
  if (ec) report("cannot list the item directory: " + ec.message(), "");
  std::sort(files.begin(), files.end());
  bool has_metadata = false, has_data = false;
  for (const fs::path& f : files) {
    const std::string rel = f.lexically_relative(item.dir).string();
    const std::string name = f.filename().string();
    has_metadata = has_metadata || rel == "metadata";
    has_data =
        has_data || name == "data.h5" || (name.rfind("ref.", 0) == 0 && f.extension() == ".bin");
    std::ifstream in(f, std::ios::binary);
    const bool opened = in.is_open();
    std::string bytes;
    std::vector<char> buf(1 << 20);
    while (opened && in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (rel == "metadata") bytes.append(buf.data(), static_cast<size_t>(in.gcount()));
    }
    if (!opened || in.bad()) {
      report("cannot read", rel);
    } else if (rel == "metadata" && !json::accept(bytes)) {
      report("not valid JSON", rel);
    }
  }
  if (item.handler == cairn::checkpoint::kJsonHandlerName && !has_metadata) {
    report("metadata is missing", "metadata");
  }
  if (cairn::checkpoint::IsTreeHandlerName(item.handler) ||
      item.handler == cairn::checkpoint::kArrayHandlerName || has_data) {
    report("_METADATA is missing", "_METADATA");
  }
}

// Reads and hashes this rank's pieces. Batches of slabs of consecutive pieces of one item go to
// the backend in one call of at most `budget` bytes; a failed batch is retried piece by piece so
// the error lands on the piece that caused it.
class PieceHasher {
 public:
  PieceHasher(const std::vector<CheckpointPlan>& plans, int64_t budget, Progress& progress,
              std::vector<Finding>& findings)
      : plans_(plans), budget_(budget), progress_(progress), findings_(findings) {}

  void Run(const std::vector<Work>& mine) {
    for (size_t i = 0; i < mine.size();) {
      size_t j = i;
      while (j < mine.size() && mine[j].ckpt == mine[i].ckpt && mine[j].item == mine[i].item) ++j;
      RunItem(std::span<const Work>(mine.data() + i, j - i));
      i = j;
    }
  }

 private:
  struct Slab {
    size_t work;  // index into the item's works
    Box box;
    uint64_t offset, bytes;
    bool last;
  };
  struct State {
    std::unique_ptr<cairn::base::Xxh3Stream> hash;
    bool done = false;
  };

  const LeafMetadata& LeafOf(const Work& w) const {
    return plans_[w.ckpt].items[w.item].tree->leaves[w.leaf];
  }

  void RunItem(std::span<const Work> works) {
    const ItemInfo& item = plans_[works[0].ckpt].items[works[0].item];
    PieceReader reader(item.dir, item.tree->backend);
    works_ = works;
    states_.clear();
    states_.resize(works.size());
    std::vector<Slab> batch;
    uint64_t batch_bytes = 0;
    for (size_t w = 0; w < works.size(); ++w) {
      const LeafMetadata& leaf = LeafOf(works[w]);
      const PieceMetadata& piece = leaf.pieces[works[w].piece];
      const size_t elem = cairn::DTypeSize(leaf.dtype);
      if (piece.box.NumElements() == 0) {
        Compare(w, cairn::base::Xxh3(nullptr, 0));
        continue;
      }
      const std::vector<Box> slabs = SlabsOf(piece.box, elem, budget_);
      for (size_t s = 0; s < slabs.size(); ++s) {
        const uint64_t bytes = static_cast<uint64_t>(slabs[s].NumElements()) * elem;
        if (!batch.empty() && batch_bytes + bytes > static_cast<uint64_t>(budget_)) {
          Flush(reader, batch);
          batch.clear();
          batch_bytes = 0;
        }
        if (states_[w].done) break;  // a failed batch already retried this piece whole
        batch.push_back({w, slabs[s], batch_bytes, bytes, s + 1 == slabs.size()});
        batch_bytes += bytes;
      }
    }
    if (!batch.empty()) Flush(reader, batch);
  }

  // Reads `batch` (slabs in piece order) in one call; hashes each slab as it arrives.
  cairn::Status ReadSlabs(PieceReader& reader, const std::vector<Slab>& batch) {
    const uint64_t total = batch.back().offset + batch.back().bytes;
    if (buffer_.size() < total) buffer_.resize(total);
    std::vector<PieceReader::Request> requests;
    for (const Slab& s : batch) {
      const LeafMetadata& leaf = LeafOf(works_[s.work]);
      char* dest = buffer_.data() + s.offset;
      requests.push_back({&leaf, &leaf.pieces[works_[s.work].piece], s.box, dest, [this, &s, dest] {
                            State& st = states_[s.work];
                            if (!st.hash) st.hash = std::make_unique<cairn::base::Xxh3Stream>();
                            st.hash->Update(dest, s.bytes);
                            progress_.Advance(s.bytes);
                            if (s.last) Compare(s.work, st.hash->Digest());
                          }});
    }
    return reader.Read(requests);
  }

  void Flush(PieceReader& reader, const std::vector<Slab>& batch) {
    const cairn::Status status = ReadSlabs(reader, batch);
    if (status.ok()) return;
    // Which piece failed? Read each unfinished piece of the batch again, alone.
    std::vector<size_t> retry;
    for (const Slab& s : batch) {
      if (!states_[s.work].done && (retry.empty() || retry.back() != s.work))
        retry.push_back(s.work);
    }
    for (size_t w : retry) {
      states_[w].hash.reset();
      const LeafMetadata& leaf = LeafOf(works_[w]);
      const size_t elem = cairn::DTypeSize(leaf.dtype);
      const std::vector<Box> slabs = SlabsOf(leaf.pieces[works_[w].piece].box, elem, budget_);
      for (size_t s = 0; s < slabs.size() && !states_[w].done; ++s) {
        const uint64_t bytes = static_cast<uint64_t>(slabs[s].NumElements()) * elem;
        const cairn::Status alone =
            ReadSlabs(reader, {{w, slabs[s], 0, bytes, s + 1 == slabs.size()}});
        if (!alone.ok()) Report(w, "cannot read: " + alone.message());
      }
      if (!states_[w].done) Report(w, "cannot read: " + status.message());  // not expected
    }
  }

  void Compare(size_t w, uint64_t computed) {
    const PieceMetadata& p = LeafOf(works_[w]).pieces[works_[w].piece];
    if (p.checksummed && computed != p.xxh3) {
      Report(w, "checksum mismatch (stored " + cairn::base::ChecksumToHex(p.xxh3) + ", computed " +
                    cairn::base::ChecksumToHex(computed) + ")");
    }
    states_[w].done = true;
  }

  void Report(size_t w, std::string problem) {
    const Work& work = works_[w];
    const ItemInfo& item = plans_[work.ckpt].items[work.item];
    const LeafMetadata& leaf = LeafOf(work);
    const PieceMetadata& p = leaf.pieces[work.piece];
    findings_.push_back(
        {{int64_t(work.ckpt), int64_t(work.item), int64_t(work.leaf), int64_t(work.piece), 1},
         item.name,
         cairn::KeyPathString(leaf.key_path),
         p.box,
         p.writer_rank,
         std::move(problem),
         PieceFile(item.tree->backend, p)});
    states_[w].done = true;
  }

  const std::vector<CheckpointPlan>& plans_;
  const int64_t budget_;
  Progress& progress_;
  std::vector<Finding>& findings_;
  std::span<const Work> works_;
  std::vector<State> states_;
  std::vector<char> buffer_;
};

// Greedy longest-processing-time assignment: every rank computes the same one.
std::vector<int> AssignPieces(const std::vector<Work>& works, int size) {
  std::vector<size_t> order(works.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return works[a].bytes > works[b].bytes; });
  using Load = std::pair<uint64_t, int>;
  std::priority_queue<Load, std::vector<Load>, std::greater<>> ranks;
  for (int r = 0; r < size; ++r) ranks.push({0, r});
  std::vector<int> owner(works.size());
  for (size_t i : order) {
    auto [load, r] = ranks.top();
    ranks.pop();
    owner[i] = r;
    ranks.push({load + works[i].bytes + 1, r});  // +1: empty pieces spread too
  }
  return owner;
}

std::string FindingText(const fs::path& ckpt, const Finding& f) {
  std::string s = ckpt.filename().string();
  if (!f.item.empty()) s += "/" + f.item;
  s += ": ";
  if (!f.key_path.empty()) s += f.key_path + ": ";
  if (f.box)
    s += "piece " + f.box->ToString() + " written by rank " + std::to_string(f.writer_rank) + ": ";
  s += f.problem;
  if (!f.file.empty() && f.problem.find(f.file) == std::string::npos) s += " in " + f.file;
  return s + "\n";
}


}  // namespace

int RunVerify(Env& env, const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()("path", po::value<std::string>(), "checkpoint or root")(
      "memory", po::value<std::string>()->default_value("16MiB"),
      "bytes each rank reads at a time; small buffers stay in the CPU caches while hashed (4MiB, 64MiB)");
  po::positional_options_description pos;
  pos.add("path", 1);
  po::variables_map vm;
  if (!ParseCommandLine(env, args, desc, pos, vm, "cairn verify DIR[/STEP] [--memory BYTES]")) {
    return kExitOk;
  }
  // (Not `required()`: po::notify would refuse `--help` alone.)
  if (!vm.count("path")) throw UsageError("needs a path: a checkpoint or a directory of steps");
  const int64_t budget = ParseBytes(vm["memory"].as<std::string>(), "memory");
  const auto start = std::chrono::steady_clock::now();

  // The target, agreed on (a path one rank cannot see fails every rank).
  std::vector<fs::path> checkpoints;
  {
    cairn::Status local;
    try {
      const Target t = ResolveTarget(vm["path"].as<std::string>());
      checkpoints = CheckpointsOf(t);
      if (checkpoints.empty())
        local = cairn::NotFoundError(t.path.string() + ": no committed steps");
    } catch (const CliError& e) {
      local = cairn::NotFoundError(e.what());
    }
    AgreeOrThrow(env, local);
  }

  // The plan: metadata, structural findings, the pieces to read. Identical on every rank.
  std::vector<CheckpointPlan> plans(checkpoints.size());
  std::vector<Finding> findings;  // structural ones (kept by rank 0) and this rank's reads
  std::vector<Work> works;
  std::string fingerprint;
  std::map<fs::path, bool> exists;
  for (size_t c = 0; c < checkpoints.size(); ++c) {
    CheckpointPlan& plan = plans[c];
    plan.path = checkpoints[c];
    auto add = [&](std::vector<int64_t> key, std::string item, std::string key_path,
                   const PieceMetadata* p, std::string problem, std::string file) {
      key.resize(5, -1);
      Finding f{std::move(key), std::move(item), std::move(key_path)};
      if (p) f.box = p->box, f.writer_rank = p->writer_rank;
      f.problem = std::move(problem);
      f.file = std::move(file);
      if (env.rank == 0) findings.push_back(std::move(f));
    };
    try {
      plan.items = ReadItems(plan.path);
    } catch (const CliError& e) {
      fingerprint += "unreadable\n";
      add({int64_t(c)}, "", "", nullptr, std::string("unreadable: ") + e.what(),
          cairn::coord::kCheckpointMetadataFile);
      continue;
    }
    for (size_t i = 0; i < plan.items.size(); ++i) {
      ItemInfo& item = plan.items[i];
      fingerprint += item.name + "\n";
      const std::vector<int64_t> ikey = {int64_t(c), int64_t(i)};
      if (item.tree_error) {
        fingerprint += "unreadable\n";
        add(ikey, item.name, "", nullptr, "unreadable: " + item.tree_error->message(),
            cairn::coord::kItemMetadataFile);
        continue;
      }
      if (!item.tree) {
        if (env.rank == 0) {
          CheckFiles(item, [&](std::string problem, std::string file) {
            add(ikey, item.name, "", nullptr, std::move(problem), std::move(file));
          });
        }
        continue;
      }
      try {
        PieceReader probe(item.dir, item.tree->backend);
      } catch (const CliError& e) {
        add(ikey, item.name, "", nullptr, e.what(), cairn::coord::kItemMetadataFile);
        continue;
      }
      const auto& leaves = item.tree->leaves;
      plan.leaves += leaves.size();
      for (size_t l = 0; l < leaves.size(); ++l) {
        const LeafMetadata& leaf = leaves[l];
        if (leaf.kind != "array") continue;
        const std::string path = cairn::KeyPathString(leaf.key_path);
        fingerprint += path + " " + std::to_string(leaf.pieces.size()) + "\n";
        const std::vector<bool> valid = CheckTiling(leaf, [&](int64_t p, std::string problem) {
          add({int64_t(c), int64_t(i), int64_t(l), p, 0}, item.name, path,
              p >= 0 ? &leaf.pieces[p] : nullptr, std::move(problem),
              p >= 0 ? PieceFile(item.tree->backend, leaf.pieces[p]) : "");
        });
        plan.pieces += leaf.pieces.size();
        for (size_t p = 0; p < leaf.pieces.size(); ++p) {
          if (!valid[p]) continue;
          const uint64_t bytes =
              uint64_t(leaf.pieces[p].box.NumElements()) * cairn::DTypeSize(leaf.dtype);
          plan.bytes += bytes;
          // A missing data file: say so instead of the backend's open error, and skip the read.
          const std::string file = PieceFile(item.tree->backend, leaf.pieces[p]);
          if (!file.empty()) {
            auto [it, added] = exists.try_emplace(item.dir / file, false);
            std::error_code ec;
            if (added) it->second = fs::exists(it->first, ec);
            if (!it->second) {
              fingerprint += "missing " + file + "\n";
              add({int64_t(c), int64_t(i), int64_t(l), int64_t(p), 0}, item.name, path,
                  &leaf.pieces[p], "data file " + file + " does not exist", file);
              continue;
            }
          }
          works.push_back({c, i, l, p, bytes});
          fingerprint += cairn::base::ChecksumToHex(leaf.pieces[p].xxh3);
        }
      }
    }
  }
  // Every rank must have read the same metadata, or the plans (and the gather) would not match.
  {
    const auto h =
        static_cast<int64_t>(cairn::base::Xxh3(fingerprint.data(), fingerprint.size()) >> 1);
    int64_t v[2] = {h, -h};
    MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_INT64_T, MPI_MAX, env.comm);
    if (v[0] != h || v[1] != -h) {
      throw CliError("ranks read different metadata under " + vm["path"].as<std::string>() +
                     " (is it on a file system every rank sees, and not being written?)");
    }
  }

  const std::vector<int> owner = AssignPieces(works, env.size);
  std::vector<Work> mine;
  uint64_t my_bytes = 0;
  for (size_t k = 0; k < works.size(); ++k) {
    if (owner[k] != env.rank) continue;
    mine.push_back(works[k]);
    my_bytes += works[k].bytes;
  }
  {
    Progress progress(env, "verify", my_bytes);
    PieceHasher(plans, budget, progress, findings).Run(mine);
  }

  json local = json::array();
  for (const Finding& f : findings) {
    json j = f.ToJson();
    j["k"] = f.key;
    local.push_back(std::move(j));
  }
  const std::vector<std::string> gathered = GatherStrings(env, local.dump());
  int code = kExitOk;
  if (env.rank == 0) {
    std::vector<Finding> all;
    for (const std::string& s : gathered) {
      for (const json& j : json::parse(s)) all.push_back(Finding::FromJson(j));
    }
    std::stable_sort(all.begin(), all.end(),
                     [](const Finding& a, const Finding& b) { return a.key < b.key; });
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    size_t leaves = 0, pieces = 0;
    uint64_t bytes = 0;
    json out = {{"command", "verify"},
                {"intact", all.empty()},
                {"checkpoints", json::array()},
                {"ranks", env.size},
                {"seconds", secs}};
    std::string text;
    for (size_t c = 0; c < plans.size(); ++c) {
      json problems = json::array();
      for (const Finding& f : all) {
        if (f.key[0] != int64_t(c)) continue;
        problems.push_back(f.ToJson());
        text += FindingText(plans[c].path, f);
      }
      out["checkpoints"].push_back({{"path", Utf8(plans[c].path.string())},
                                    {"intact", problems.empty()},
                                    {"leaves", plans[c].leaves},
                                    {"pieces", plans[c].pieces},
                                    {"bytes", plans[c].bytes},
                                    {"problems", std::move(problems)}});
      leaves += plans[c].leaves;
      pieces += plans[c].pieces;
      bytes += plans[c].bytes;
    }
    char rate[64];
    std::snprintf(rate, sizeof rate, "%.3g s (%.2f GB/s)", secs,
                  secs > 0 ? bytes / secs / 1e9 : 0.0);
    text += "verified " + std::to_string(plans.size()) + " checkpoint" +
            (plans.size() == 1 ? "" : "s") + ", " + std::to_string(leaves) + " leaves, " +
            std::to_string(pieces) + " pieces, " + HumanBytes(bytes) + " on " +
            std::to_string(env.size) + " rank" + (env.size == 1 ? "" : "s") + " in " + rate + ": " +
            (all.empty() ? "intact"
                         : std::to_string(all.size()) + " problem" + (all.size() == 1 ? "" : "s")) +
            "\n";
    if (env.json) {
      PrintJson(env, out);
    } else {
      Print(env, text);
    }
    code = all.empty() ? kExitOk : kExitFindings;
  }
  MPI_Bcast(&code, 1, MPI_INT, 0, env.comm);
  return code;
}

}  // namespace cairn_cli
