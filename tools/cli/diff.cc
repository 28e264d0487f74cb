// cairn diff: which leaves of two checkpoints (or of the common steps of two roots) differ, and by
// how much.
//
// Metadata-level differences (items, leaves, kinds, dtypes, shapes, scalar and string values) are
// found by every rank from the metadata. Arrays are compared value by value in bounded memory:
// each array is cut into C-order slabs (SlabsOf over the global shape), the slabs of all arrays
// are split over the ranks in contiguous runs of equal bytes, and each rank reads its slabs from
// both sides (the parts of the stored pieces that intersect them) and counts differing elements.
// Counts, maxima and first indices are reduced to rank 0, which prints.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "base/box_ops.h"
#include "base/checksum.h"
#include "base/convert.h"
#include "cairn/dtype.h"
#include "cli.h"

namespace cairn_cli {
namespace {

using cairn::Box;
using cairn::DType;
using cairn::LeafMetadata;

// One side of an item being compared.
struct ItemSide {
  fs::path dir;
  std::string backend;
};

// Two array leaves of equal shape whose values are compared.
struct ArrayPair {
  ItemSide a, b;
  const LeafMetadata* la;
  const LeafMetadata* lb;
  size_t entry;  // index into the report entries
};

// What is reported about one step/item/leaf (or one item or step, key_path empty).
struct Entry {
  std::string step, item, key_path;
  std::vector<json> problems;     // metadata-level differences
  std::optional<size_t> compare;  // index into the array comparisons
};

// Per compared array, reduced over ranks.
struct Stats {
  std::vector<int64_t> differing, beyond, first;
  std::vector<double> max;
  explicit Stats(size_t n)
      : differing(n), beyond(n), first(n, std::numeric_limits<int64_t>::max()), max(n) {}
};

std::string Num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::vector<int64_t> Unravel(int64_t linear, const cairn::Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? linear % shape[d] : 0;
    linear = shape[d] ? linear / shape[d] : 0;
  }
  return idx;
}

int64_t Ravel(const std::vector<int64_t>& idx, const cairn::Shape& shape) {
  int64_t linear = 0;
  for (size_t d = 0; d < shape.size(); ++d) linear = linear * shape[d] + idx[d];
  return linear;
}

// |a - b| of two values as doubles: NaN and NaN are equal, NaN and a number infinitely apart.
double AbsDiff(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) {
    return std::isnan(a) && std::isnan(b) ? 0.0 : std::numeric_limits<double>::infinity();
  }
  if (a == b) return 0.0;  // also inf == inf
  return std::fabs(a - b);
}

// Compares n elements of `a` (dtype da) and `b` (dtype db); `base` is the linear index of the
// first one. Same dtype: bitwise (so NaN == NaN with the same bits); otherwise as numbers.
void CompareElements(DType da, const char* a, DType db, const char* b, int64_t n, int64_t base,
                     double atol, size_t k, Stats& st) {
  const size_t sa = cairn::DTypeSize(da), sb = cairn::DTypeSize(db);
  const bool complex = cairn::IsComplex(da) || cairn::IsComplex(db);
  const DType wide = complex ? DType::kComplex128 : DType::kFloat64;
  const int64_t per = complex ? 2 : 1;
  constexpr int64_t kChunk = 1024;
  double va[2 * kChunk], vb[2 * kChunk];
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t m = std::min(kChunk, n - c);
    const char* pa = a + c * sa;
    const char* pb = b + c * sb;
    if (da == db && std::memcmp(pa, pb, m * sa) == 0) continue;
    cairn::base::ConvertElements(da, pa, wide, va, m);
    cairn::base::ConvertElements(db, pb, wide, vb, m);
    for (int64_t i = 0; i < m; ++i) {
      double diff = AbsDiff(va[i * per], vb[i * per]);
      if (complex) diff = std::hypot(diff, AbsDiff(va[i * per + 1], vb[i * per + 1]));
      const bool differ = da == db ? std::memcmp(pa + i * sa, pb + i * sb, sa) != 0 : diff != 0;
      if (!differ) continue;
      ++st.differing[k];
      if (!(diff <= atol)) ++st.beyond[k];
      st.max[k] = std::max(st.max[k], diff);
      st.first[k] = std::min(st.first[k], base + c + i);
    }
  }
}

// A slab of one compared array, assigned to this rank.
struct Task {
  size_t pair;
  Box slab;
  int64_t elements;
};

// Reads and compares this rank's slabs, batching consecutive slabs of one item pair into one read
// per side of at most `budget` bytes (both sides' slabs plus one staging buffer).
class SlabComparer {
 public:
  SlabComparer(const std::vector<ArrayPair>& pairs, int64_t budget, double atol, Stats& stats,
               Progress& progress)
      : pairs_(pairs), budget_(budget), atol_(atol), stats_(stats), progress_(progress) {}

  cairn::Status Run(const std::vector<Task>& tasks) {
    std::vector<const Task*> batch;
    uint64_t ab = 0, staging = 0;
    for (const Task& t : tasks) {
      const ArrayPair& p = pairs_[t.pair];
      const size_t sa = cairn::DTypeSize(p.la->dtype), sb = cairn::DTypeSize(p.lb->dtype);
      const uint64_t cost = uint64_t(t.elements) * (sa + sb);
      const uint64_t stage = uint64_t(t.elements) * std::max(sa, sb);
      const bool same_items = batch.empty() || (pairs_[batch[0]->pair].a.dir == p.a.dir &&
                                                pairs_[batch[0]->pair].b.dir == p.b.dir);
      if (!batch.empty() &&
          (!same_items || ab + cost + std::max(staging, stage) > uint64_t(budget_))) {
        CAIRN_RETURN_IF_ERROR(Flush(batch));
        batch.clear();
        ab = staging = 0;
      }
      batch.push_back(&t);
      ab += cost;
      staging = std::max(staging, stage);
    }
    if (!batch.empty()) return Flush(batch);
    return cairn::OkStatus();
  }

 private:
  // Fills each slab's buffer on one side with the intersecting parts of that side's pieces.
  cairn::Status ReadSide(const std::vector<const Task*>& batch, bool side_a,
                         const std::vector<char*>& slabs) {
    const ArrayPair& first = pairs_[batch[0]->pair];
    const ItemSide& item = side_a ? first.a : first.b;
    std::vector<PieceReader::Request> requests;
    for (size_t s = 0; s < batch.size(); ++s) {
      const ArrayPair& p = pairs_[batch[s]->pair];
      const LeafMetadata* leaf = side_a ? p.la : p.lb;
      const size_t elem = cairn::DTypeSize(leaf->dtype);
      const Box& slab = batch[s]->slab;
      std::memset(slabs[s], 0, batch[s]->elements * elem);  // regions no piece covers read as 0
      for (const auto& piece : leaf->pieces) {
        if (piece.box.shape.size() != slab.shape.size() ||
            piece.box.origin.size() != slab.shape.size()) {
          continue;
        }
        std::optional<Box> region = cairn::base::Intersect(piece.box, slab);
        if (!region || region->NumElements() == 0) continue;
        if (*region == slab) {
          requests.push_back({leaf, &piece, *region, slabs[s], nullptr});
          continue;
        }
        char* dest = slabs[s];
        requests.push_back(
            {leaf, &piece, *region, staging_.data(), [this, dest, slab, r = *region, elem] {
               cairn::base::CopyRegion(staging_.data(), r, dest, slab, r, elem);
             }});
      }
    }
    if (requests.empty()) return cairn::OkStatus();
    PieceReader reader(item.dir, item.backend);
    return reader.Read(requests);
  }

  cairn::Status Flush(const std::vector<const Task*>& batch) {
    std::vector<char*> slabs_a, slabs_b;
    uint64_t ab = 0, stage = 0;
    for (const Task* t : batch) {
      const ArrayPair& p = pairs_[t->pair];
      const size_t sa = cairn::DTypeSize(p.la->dtype), sb = cairn::DTypeSize(p.lb->dtype);
      ab += uint64_t(t->elements) * (sa + sb);
      stage = std::max<uint64_t>(stage, uint64_t(t->elements) * std::max(sa, sb));
    }
    if (buffer_.size() < ab) buffer_.resize(ab);
    if (staging_.size() < stage) staging_.resize(stage);
    char* next = buffer_.data();
    for (const Task* t : batch) {
      const ArrayPair& p = pairs_[t->pair];
      slabs_a.push_back(next);
      next += t->elements * cairn::DTypeSize(p.la->dtype);
      slabs_b.push_back(next);
      next += t->elements * cairn::DTypeSize(p.lb->dtype);
    }
    const ArrayPair& first = pairs_[batch[0]->pair];
    CAIRN_RETURN_IF_ERROR(ReadSide(batch, true, slabs_a).WithContext("A " + first.a.dir.string()));
    CAIRN_RETURN_IF_ERROR(ReadSide(batch, false, slabs_b).WithContext("B " + first.b.dir.string()));
    for (size_t s = 0; s < batch.size(); ++s) {
      const ArrayPair& p = pairs_[batch[s]->pair];
      const int64_t base = Ravel(batch[s]->slab.origin, p.la->global_shape);
      CompareElements(p.la->dtype, slabs_a[s], p.lb->dtype, slabs_b[s], batch[s]->elements, base,
                      atol_, batch[s]->pair, stats_);
    }
    progress_.Advance(ab);
    return cairn::OkStatus();
  }

  const std::vector<ArrayPair>& pairs_;
  const int64_t budget_;
  const double atol_;
  Stats& stats_;
  Progress& progress_;
  std::vector<char> buffer_, staging_;
};

// `s` with invalid UTF-8 replaced (file names, cut strings), so JSON output cannot throw.
std::string Utf8(const std::string& s) {
  return json::parse(json(s).dump(-1, ' ', false, json::error_handler_t::replace))
      .get<std::string>();
}

std::string ValueText(const cairn::Leaf& v) {
  if (const auto* s = std::get_if<cairn::Scalar>(&v)) {
    double d = 0;
    uint64_t bits = s->bits();
    cairn::base::ConvertElements(s->dtype(), &bits, DType::kFloat64, &d, 1);
    return Num(d);
  }
  if (const auto* s = std::get_if<std::string>(&v)) {
    return Utf8("'" + (s->size() > 40 ? s->substr(0, 37) + "..." : *s) + "'");
  }
  if (const auto* j = std::get_if<json>(&v)) {
    const std::string s = j->dump();
    return Utf8(s.size() > 40 ? s.substr(0, 37) + "..." : s);
  }
  return "?";
}

// Scalars (same dtype and bits), strings and JSON values.
bool SameValue(const std::optional<cairn::Leaf>& a, const std::optional<cairn::Leaf>& b) {
  if (!a || !b) return a.has_value() == b.has_value();
  if (a->index() != b->index()) return false;
  if (const auto* x = std::get_if<cairn::Scalar>(&*a)) return *x == std::get<cairn::Scalar>(*b);
  if (const auto* x = std::get_if<std::string>(&*a)) return *x == std::get<std::string>(*b);
  if (const auto* x = std::get_if<json>(&*a)) return *x == std::get<json>(*b);
  return true;
}

// Leaves of two tree items: metadata-level differences, and the array pairs to compare.
void CompareTrees(const ItemInfo& ia, const ItemInfo& ib, const std::string& step, double atol,
                  std::vector<Entry>& entries, std::vector<ArrayPair>& pairs) {
  std::map<std::string, std::pair<const LeafMetadata*, const LeafMetadata*>> leaves;
  for (const auto& l : ia.tree->leaves) leaves[cairn::KeyPathString(l.key_path)].first = &l;
  for (const auto& l : ib.tree->leaves) leaves[cairn::KeyPathString(l.key_path)].second = &l;
  for (const auto& [path, lr] : leaves) {
    const auto [la, lb] = lr;
    Entry e{step, ia.name, path};
    if (!la || !lb) {
      e.problems.push_back({{"problem", la ? "only_in_a" : "only_in_b"}});
    } else if (la->kind != lb->kind) {
      e.problems.push_back({{"problem", "kind"}, {"a", la->kind}, {"b", lb->kind}});
    } else if (la->kind == "array") {
      if (la->dtype != lb->dtype) {
        e.problems.push_back({{"problem", "dtype"},
                              {"a", cairn::DTypeName(la->dtype)},
                              {"b", cairn::DTypeName(lb->dtype)}});
      }
      if (la->global_shape != lb->global_shape) {
        e.problems.push_back(
            {{"problem", "shape"}, {"a", la->global_shape}, {"b", lb->global_shape}});
      } else if (cairn::base::NumElements(la->global_shape) > 0) {
        e.compare = pairs.size();
        pairs.push_back(
            {{ia.dir, ia.tree->backend}, {ib.dir, ib.tree->backend}, la, lb, entries.size()});
      }
    } else if (!SameValue(la->value, lb->value)) {
      json p = {{"problem", "value"}};
      const auto* sa = la->value ? std::get_if<cairn::Scalar>(&*la->value) : nullptr;
      const auto* sb = lb->value ? std::get_if<cairn::Scalar>(&*lb->value) : nullptr;
      if (sa && sb) {
        double a = 0, b = 0;
        uint64_t ba = sa->bits(), bb = sb->bits();
        cairn::base::ConvertElements(sa->dtype(), &ba, DType::kFloat64, &a, 1);
        cairn::base::ConvertElements(sb->dtype(), &bb, DType::kFloat64, &b, 1);
        if (sa->dtype() != sb->dtype()) {
          e.problems.push_back({{"problem", "dtype"},
                                {"a", cairn::DTypeName(sa->dtype())},
                                {"b", cairn::DTypeName(sb->dtype())}});
        }
        const double diff = AbsDiff(a, b);
        p["abs_diff"] = std::isinf(diff) ? json(nullptr) : json(diff);
        p["within_atol"] = diff <= atol;
      }
      p["a"] = la->value ? ValueText(*la->value) : "(none)";
      p["b"] = lb->value ? ValueText(*lb->value) : "(none)";
      e.problems.push_back(std::move(p));
    }
    if (!e.problems.empty() || e.compare) entries.push_back(std::move(e));
  }
}

// Every regular file under `dir`, relative, sorted.
std::vector<std::string> FilesUnder(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) out.push_back(it->path().lexically_relative(dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Items without a tree: their files, byte for byte (JSON files that parse equal are equal).
cairn::Status CompareFiles(const ItemInfo& ia, const ItemInfo& ib, const std::string& step,
                           std::vector<Entry>& entries) {
  std::set<std::string> names;
  const auto fa = FilesUnder(ia.dir), fb = FilesUnder(ib.dir);
  names.insert(fa.begin(), fa.end());
  names.insert(fb.begin(), fb.end());
  Entry e{step, ia.name, ""};
  auto slurp = [](const fs::path& p, std::string& out) {
    std::ifstream in(p, std::ios::binary);
    out.assign(std::istreambuf_iterator<char>(in), {});
    return !in.bad() && in.is_open();
  };
  for (const std::string& name : names) {
    const bool in_a = std::binary_search(fa.begin(), fa.end(), name);
    const bool in_b = std::binary_search(fb.begin(), fb.end(), name);
    if (!in_a || !in_b) {
      e.problems.push_back(
          {{"problem", in_a ? "file_only_in_a" : "file_only_in_b"}, {"file", Utf8(name)}});
      continue;
    }
    std::string a, b;
    if (!slurp(ia.dir / name, a))
      return cairn::DataLossError("cannot read " + (ia.dir / name).string());
    if (!slurp(ib.dir / name, b))
      return cairn::DataLossError("cannot read " + (ib.dir / name).string());
    if (a == b) continue;
    if (json::accept(a) && json::accept(b) && json::parse(a) == json::parse(b)) continue;
    e.problems.push_back({{"problem", "file"}, {"file", Utf8(name)}});
  }
  if (!e.problems.empty()) entries.push_back(std::move(e));
  return cairn::OkStatus();
}

// Both checkpoints' items: what differs at the metadata level, and the arrays to compare.
void ComparePair(const std::string& step, const fs::path& a, const fs::path& b, double atol,
                 std::vector<ItemInfo>& ia, std::vector<ItemInfo>& ib, std::vector<Entry>& entries,
                 std::vector<ArrayPair>& pairs, bool rank0) {
  ia = ReadItems(a);
  ib = ReadItems(b);
  std::map<std::string, std::pair<const ItemInfo*, const ItemInfo*>> items;
  for (const auto& i : ia) items[i.name].first = &i;
  for (const auto& i : ib) items[i.name].second = &i;
  for (const auto& [name, ab] : items) {
    const auto [x, y] = ab;
    if (!x || !y) {
      entries.push_back({step, name, "", {{{"problem", x ? "item_only_in_a" : "item_only_in_b"}}}});
      continue;
    }
    for (const ItemInfo* i : {x, y}) {
      if (i->tree_error) throw CliError(i->dir.string() + ": " + i->tree_error->message());
    }
    if (x->tree.has_value() != y->tree.has_value()) {
      entries.push_back({step,
                         name,
                         "",
                         {{{"problem", "item_kind"},
                           {"a", x->tree ? "tree" : "files"},
                           {"b", y->tree ? "tree" : "files"}}}});
    } else if (x->tree) {
      CompareTrees(*x, *y, step, atol, entries, pairs);
    } else if (rank0) {
      const cairn::Status s = CompareFiles(*x, *y, step, entries);
      if (!s.ok()) throw CliError(s.message());
    }
  }
}

std::string ProblemText(const json& p) {
  const std::string kind = p["problem"].get<std::string>();
  if (kind == "kind" || kind == "dtype" || kind == "item_kind") {
    return (kind == "item_kind" ? "kind" : kind) + " " + p["a"].get<std::string>() + " vs " +
           p["b"].get<std::string>();
  }
  if (kind == "shape")
    return "shape " + ShapeText(p["a"].get<cairn::Shape>()) + " vs " +
           ShapeText(p["b"].get<cairn::Shape>());
  if (kind == "value") {
    std::string s = p["a"].get<std::string>() + " vs " + p["b"].get<std::string>();
    if (p.contains("abs_diff")) {
      s +=
          " (|a-b| = " + (p["abs_diff"].is_null() ? "inf" : Num(p["abs_diff"].get<double>())) + ")";
      if (p["within_atol"].get<bool>()) s += " (within --atol)";
    }
    return s;
  }
  if (kind == "file") return "file " + p["file"].get<std::string>() + " differs";
  if (kind == "values") {
    std::string s = std::to_string(p["differing"].get<int64_t>()) + " of " +
                    std::to_string(p["elements"].get<int64_t>()) +
                    " elements differ, max |a-b| = " +
                    (p["max_abs_diff"].is_null() ? "inf" : Num(p["max_abs_diff"].get<double>())) +
                    " (first at " + ShapeText(p["first_index"].get<cairn::Shape>()) + ")";
    if (p["within_atol"].get<bool>()) s += " (within --atol)";
    return s;
  }
  return kind;
}

// A difference counts for the exit code unless it is a value within --atol.
bool Counts(const json& p) { return !p.contains("within_atol") || !p["within_atol"].get<bool>(); }


}  // namespace

int RunDiff(Env& env, const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()("a", po::value<std::string>(), "first checkpoint or root")(
      "b", po::value<std::string>(), "second checkpoint or root")(
      "memory", po::value<std::string>()->default_value("16MiB"),
      "bytes each rank reads at a time; small buffers stay in the CPU caches while hashed (4MiB, 64MiB)")(
      "atol", po::value<double>()->default_value(0.0),
      "values within this absolute difference count as equal for the exit code");
  po::positional_options_description pos;
  pos.add("a", 1).add("b", 1);
  po::variables_map vm;
  if (!ParseCommandLine(env, args, desc, pos, vm, "cairn diff A B [--atol X] [--memory BYTES]")) {
    return kExitOk;
  }
  // (Not `required()`: po::notify would refuse `--help` alone.)
  if (!vm.count("a") || !vm.count("b")) throw UsageError("needs two paths, A and B");
  const int64_t budget = ParseBytes(vm["memory"].as<std::string>(), "memory");
  const double atol = vm["atol"].as<double>();
  if (!(atol >= 0)) throw UsageError("--atol: must be >= 0");
  const auto start = std::chrono::steady_clock::now();

  // The checkpoints to pair, and everything found from metadata; every rank computes the same.
  struct StepPair {
    std::string step;
    fs::path a, b;
    std::vector<ItemInfo> ia, ib;
  };
  std::vector<StepPair> steps;
  std::vector<Entry> entries;
  std::vector<ArrayPair> pairs;
  {
    cairn::Status local;
    try {
      const Target ta = ResolveTarget(vm["a"].as<std::string>());
      const Target tb = ResolveTarget(vm["b"].as<std::string>());
      if (ta.is_checkpoint != tb.is_checkpoint) {
        throw CliError("give two checkpoints or two roots: " + ta.path.string() + " is " +
                       (ta.is_checkpoint ? "a checkpoint" : "a root") + ", " + tb.path.string() +
                       " is " + (tb.is_checkpoint ? "a checkpoint" : "a root"));
      }
      if (ta.is_checkpoint) {
        steps.push_back({"", ta.path, tb.path});
      } else {
        if (ta.steps.empty() && tb.steps.empty()) {
          throw CliError(ta.path.string() + ", " + tb.path.string() + ": no committed steps");
        }
        std::map<std::string, fs::path> in_b;
        for (const auto& s : tb.steps) in_b[s.name] = s.path;
        for (const auto& s : ta.steps) {
          if (in_b.count(s.name)) {
            steps.push_back({s.name, s.path, in_b[s.name]});
            in_b.erase(s.name);
          } else {
            entries.push_back({s.name, "", "", {{{"problem", "step_only_in_a"}}}});
          }
        }
        for (const auto& s : tb.steps) {
          if (in_b.count(s.name))
            entries.push_back({s.name, "", "", {{{"problem", "step_only_in_b"}}}});
        }
      }
      for (StepPair& s : steps) {
        ComparePair(s.step, s.a, s.b, atol, s.ia, s.ib, entries, pairs, env.rank == 0);
      }
    } catch (const CliError& e) {
      local = cairn::InvalidArgumentError(e.what());
    }
    AgreeOrThrow(env, local);
  }
  // Every rank must compare the same arrays (same metadata seen everywhere).
  {
    std::string fp;
    for (const ArrayPair& p : pairs) {
      fp += p.a.dir.string() + "|" + cairn::KeyPathString(p.la->key_path) + "|";
      for (const auto* l : {p.la, p.lb}) {
        for (const auto& piece : l->pieces) fp += cairn::base::ChecksumToHex(piece.xxh3);
      }
    }
    const auto h = static_cast<int64_t>(cairn::base::Xxh3(fp.data(), fp.size()) >> 1);
    int64_t v[2] = {h, -h};
    MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_INT64_T, MPI_MAX, env.comm);
    if (v[0] != h || v[1] != -h) {
      throw CliError(
          "ranks read different metadata (are A and B on a file system every rank "
          "sees, and not being written?)");
    }
  }

  // Slabs of every array pair, split over the ranks in contiguous runs of about equal bytes.
  std::vector<Task> tasks;
  uint64_t total = 0;
  for (size_t k = 0; k < pairs.size(); ++k) {
    const size_t sa = cairn::DTypeSize(pairs[k].la->dtype),
                 sb = cairn::DTypeSize(pairs[k].lb->dtype);
    for (Box& slab : SlabsOf(cairn::base::WholeBox(pairs[k].la->global_shape),
                             sa + sb + std::max(sa, sb), budget)) {
      const int64_t n = slab.NumElements();
      tasks.push_back({k, std::move(slab), n});
      total += uint64_t(n) * (sa + sb);
    }
  }
  std::vector<Task> mine;
  uint64_t before = 0, my_bytes = 0;
  for (Task& t : tasks) {
    const ArrayPair& p = pairs[t.pair];
    const uint64_t bytes =
        uint64_t(t.elements) * (cairn::DTypeSize(p.la->dtype) + cairn::DTypeSize(p.lb->dtype));
    const int owner = total ? int((__uint128_t(before) * env.size) / total) : 0;
    before += bytes;
    if (owner == env.rank) {
      mine.push_back(std::move(t));
      my_bytes += bytes;
    }
  }
  Stats stats(pairs.size());
  cairn::Status local;
  {
    Progress progress(env, "diff", my_bytes);
    local = SlabComparer(pairs, budget, atol, stats, progress).Run(mine);
  }
  AgreeOrThrow(env, local);
  const int n = static_cast<int>(pairs.size());
  auto reduce = [&](void* data, MPI_Datatype type, MPI_Op op) {
    MPI_Reduce(env.rank == 0 ? MPI_IN_PLACE : data, data, n, type, op, 0, env.comm);
  };
  reduce(stats.differing.data(), MPI_INT64_T, MPI_SUM);
  reduce(stats.beyond.data(), MPI_INT64_T, MPI_SUM);
  reduce(stats.first.data(), MPI_INT64_T, MPI_MIN);
  reduce(stats.max.data(), MPI_DOUBLE, MPI_MAX);

  int code = kExitOk;
  if (env.rank == 0) {
    // Array results into their entries; then the report in step, item, key path order.
    for (size_t k = 0; k < pairs.size(); ++k) {
      if (stats.differing[k] == 0) continue;
      const cairn::Shape& shape = pairs[k].la->global_shape;
      entries[pairs[k].entry].problems.push_back(
          {{"problem", "values"},
           {"elements", cairn::base::NumElements(shape)},
           {"differing", stats.differing[k]},
           {"beyond_atol", stats.beyond[k]},
           {"max_abs_diff", std::isinf(stats.max[k]) ? json(nullptr) : json(stats.max[k])},
           {"first_index", Unravel(stats.first[k], shape)},
           {"within_atol", stats.beyond[k] == 0}});
    }
    std::stable_sort(entries.begin(), entries.end(), [&](const Entry& x, const Entry& y) {
      auto order = [&](const Entry& e) {
        auto it = std::find_if(steps.begin(), steps.end(),
                               [&](const StepPair& s) { return s.step == e.step; });
        return std::make_tuple(it - steps.begin(), e.step, e.item, e.key_path);
      };
      return order(x) < order(y);
    });
    std::string text;
    json differences = json::array();
    size_t leaves_differ = 0, leaves_within = 0, steps_only = 0, items_differ = 0;
    for (const Entry& e : entries) {
      bool counts = false;
      std::string prefix = e.step;
      if (!e.item.empty() && e.item != "default") prefix += (prefix.empty() ? "" : "/") + e.item;
      if (!prefix.empty()) prefix += ": ";
      for (const json& p : e.problems) {
        json d = p;
        d["step"] = e.step.empty() ? json(nullptr) : json(Utf8(e.step));
        d["item"] = Utf8(e.item);
        d["key_path"] = Utf8(e.key_path);
        differences.push_back(d);
        counts = counts || Counts(p);
        const std::string kind = p["problem"].get<std::string>();
        const std::string side = kind.ends_with("_a") ? "A" : "B";
        if (kind == "only_in_a" || kind == "only_in_b") {
          text += prefix + "only in " + side + ": " + e.key_path + "\n";
        } else if (kind == "item_only_in_a" || kind == "item_only_in_b") {
          text +=
              (e.step.empty() ? "" : e.step + ": ") + "only in " + side + ": item " + e.item + "\n";
        } else if (kind == "step_only_in_a" || kind == "step_only_in_b") {
          text += "only in " + side + ": step " + e.step + "\n";
        } else if (kind == "file_only_in_a" || kind == "file_only_in_b") {
          text += prefix + "only in " + side + ": file " + p["file"].get<std::string>() + "\n";
        } else {
          text += prefix + (e.key_path.empty() ? "" : e.key_path + ": ") + ProblemText(p) + "\n";
        }
      }
      if (e.problems.empty()) continue;
      if (!e.key_path.empty()) {
        (counts ? leaves_differ : leaves_within) += 1;
      } else if (e.item.empty()) {
        ++steps_only;
      } else {
        ++items_differ;
      }
    }
    const bool identical = leaves_differ == 0 && steps_only == 0 && items_differ == 0;
    auto count = [](size_t n, const char* one, const char* many) {
      return std::to_string(n) + " " + (n == 1 ? one : many);
    };
    std::string summary;
    if (identical) {
      summary = leaves_within == 0 ? "identical"
                                   : "identical within --atol " + Num(atol) + " (" +
                                         count(leaves_within, "leaf differs", "leaves differ") +
                                         " by at most that)";
    } else {
      std::vector<std::string> parts;
      if (leaves_differ || (!steps_only && !items_differ)) {
        parts.push_back(count(leaves_differ, "leaf differs", "leaves differ"));
      }
      if (items_differ) parts.push_back(count(items_differ, "item differs", "items differ"));
      if (steps_only) parts.push_back(count(steps_only, "step is", "steps are") + " in only one");
      for (size_t i = 0; i < parts.size(); ++i) summary += (i ? ", " : "") + parts[i];
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (env.json) {
      PrintJson(env, {{"command", "diff"},
                      {"a", Utf8(vm["a"].as<std::string>())},
                      {"b", Utf8(vm["b"].as<std::string>())},
                      {"identical", identical},
                      {"atol", atol},
                      {"leaves_differ", leaves_differ},
                      {"leaves_within_atol", leaves_within},
                      {"differences", differences},
                      {"ranks", env.size},
                      {"seconds", secs}});
    } else {
      Print(env, text + summary + "\n");
    }
    code = identical ? kExitOk : kExitFindings;
  }
  MPI_Bcast(&code, 1, MPI_INT, 0, env.comm);
  return code;
}

}  // namespace cairn_cli
