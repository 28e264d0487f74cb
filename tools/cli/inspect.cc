// cairn ls DIR, cairn tree DIR[/STEP]: what is stored, read from the metadata only (rank 0).

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/convert.h"
#include "base/fs.h"
#include "cairn/dtype.h"
#include "cli.h"
#include "coord/commit.h"
#include "format/ocdbt/read_view.h"
#include "format/ocdbt/zarr_metadata.h"
#include "manager/step_store.h"

namespace cairn_cli {
namespace {

// Seconds since the last modification of anything directly in `dir` (or of `dir` itself).
double AgeSeconds(const fs::path& dir) {
  std::error_code ec;
  auto newest = fs::last_write_time(dir, ec);
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto t = e.last_write_time(ec);
    if (!ec && t > newest) newest = t;
  }
  return std::chrono::duration<double>(fs::file_time_type::clock::now() - newest).count();
}

std::string AgeText(double secs) {
  char buf[48];
  if (secs < 120) {
    std::snprintf(buf, sizeof buf, "%.0f s ago", secs);
  } else if (secs < 7200) {
    std::snprintf(buf, sizeof buf, "%.0f min ago", secs / 60);
  } else if (secs < 172800) {
    std::snprintf(buf, sizeof buf, "%.1f h ago", secs / 3600);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f days ago", secs / 86400);
  }
  return buf;
}

// Pads columns: rows of cells, left-aligned, two spaces apart.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()));
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

json StepJson(const StepEntry& s) {
  json j = {{"name", s.name}, {"path", s.path.string()}, {"state", "committed"}};
  // Committed by the rename alone (Orbax on a local disk before Aug 2026).
  if (!fs::exists(s.path / cairn::coord::kCommitMarkerFile)) j["state"] = "committed (no marker)";
  j["step"] = s.step ? json(*s.step) : json(nullptr);
  auto [bytes, files] = DiskUsage(s.path);
  j["bytes"] = bytes;
  j["files"] = files;
  auto meta = cairn::ReadCheckpointMetadata(s.path);
  if (!meta.ok()) {
    j["state"] = "unreadable";
    j["error"] = meta.status().message();
    return j;
  }
  j["init_timestamp_nsecs"] = meta->init_timestamp_nsecs;
  j["commit_timestamp_nsecs"] = meta->commit_timestamp_nsecs;
  j["metrics"] = meta->metrics;
  j["custom_metadata"] = meta->custom_metadata;
  j["items"] = meta->item_handlers;
  if (meta->performance_metrics.contains("blocking_secs")) {
    j["blocking_secs"] = meta->performance_metrics["blocking_secs"];
  }
  return j;
}

}  // namespace

// ---- ls ----

int RunLs(Env& env, const std::vector<std::string>& args) {
  po::options_description desc("cairn ls options");
  std::string dir;
  desc.add_options()("dir", po::value(&dir), "a CheckpointManager directory or one checkpoint");
  po::positional_options_description pos;
  pos.add("dir", 1);
  po::variables_map vm;
  if (!ParseCommandLine(env, args, desc, pos, vm, "cairn ls DIR [--json]")) return kExitOk;
  if (dir.empty()) throw UsageError("missing DIR");
  if (env.rank != 0) return kExitOk;
  const Target t = ResolveTarget(dir);
  json out = {{"command", "ls"}, {"path", t.path.string()}};
  json steps = json::array(), leftovers = json::array();
  if (t.is_checkpoint) {
    steps.push_back(StepJson({t.path.filename().string(), StepNumberOf(t.path.filename().string()),
                              t.path}));
  } else {
    for (const auto& s : t.steps) steps.push_back(StepJson(s));
    std::error_code ec;
    std::vector<fs::directory_entry> entries;
    for (const auto& e : fs::directory_iterator(t.path, ec)) entries.push_back(e);
    std::sort(entries.begin(), entries.end());
    for (const auto& e : entries) {
      const std::string name = e.path().filename().string();
      if (!e.is_directory(ec)) continue;
      json l = {{"name", name}, {"path", e.path().string()}};
      if (name.find(std::string(cairn::coord::kTmpMarker) + "deleting-") != std::string::npos) {
        l["kind"] = "interrupted deletion";
      } else if (cairn::IsTemporaryName(name)) {
        l["kind"] = "temporary";
      } else if (fs::exists(e.path() / cairn::manager::kTrashMarkerFile, ec)) {
        l["kind"] = "trash";
        l["steps"] = ListCommittedSteps(e.path()).size();
      } else {
        continue;
      }
      auto [bytes, files] = DiskUsage(e.path());
      l["bytes"] = bytes;
      l["files"] = files;
      l["age_secs"] = AgeSeconds(e.path());
      leftovers.push_back(std::move(l));
    }
    std::ifstream root_meta(t.path / cairn::manager::kRootMetadataDir /
                            cairn::manager::kRootMetadataFile);
    if (root_meta) {
      json rm = json::parse(root_meta, nullptr, false);
      if (!rm.is_discarded()) out["root_metadata"] = rm;
    }
  }
  out["steps"] = steps;
  out["leftovers"] = leftovers;
  uint64_t total = 0;
  for (const auto& s : steps) total += s["bytes"].get<uint64_t>();
  out["bytes"] = total;
  if (env.json) {
    PrintJson(env, out);
    return kExitOk;
  }
  std::ostringstream os;
  os << t.path.string() << ": " << steps.size() << (steps.size() == 1 ? " step" : " steps");
  if (!steps.empty() && !steps.back()["step"].is_null()) {
    os << " (latest " << steps.back()["step"].get<int64_t>() << ")";
  }
  os << ", " << HumanBytes(total) << "\n";
  if (!steps.empty()) {
    std::vector<std::vector<std::string>> rows = {
        {"STEP", "STATE", "SIZE", "FILES", "COMMITTED (UTC)", "SAVE S", "ITEMS", "METRICS"}};
    for (const auto& s : steps) {
      std::string items, secs = "-", committed = "-";
      if (s.contains("items")) {
        for (const auto& [k, v] : s["items"].items()) items += (items.empty() ? "" : ",") + k;
        const int64_t a = s["init_timestamp_nsecs"], b = s["commit_timestamp_nsecs"];
        committed = FormatTimestamp(b);
        if (a > 0 && b >= a) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.2f", (b - a) / 1e9);
          secs = buf;
        }
      }
      rows.push_back({s["name"].get<std::string>(), s["state"].get<std::string>(),
                      HumanBytes(s["bytes"]), std::to_string(s["files"].get<uint64_t>()),
                      committed, secs, items,
                      s.contains("metrics") && !s["metrics"].empty() ? s["metrics"].dump() : "-"});
    }
    os << Table(rows);
  }
  if (!leftovers.empty()) {
    os << "\nnot steps:\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& l : leftovers) {
      const std::string kind = l["kind"];
      std::string what = HumanBytes(l["bytes"]) + ", " +
                         std::to_string(l["files"].get<uint64_t>()) + " files, modified " +
                         AgeText(l["age_secs"]);
      std::string hint;
      if (kind == "trash") {
        const size_t n = l["steps"].get<size_t>();
        what = std::to_string(n) + (n == 1 ? " step, " : " steps, ") + what;
        hint = "(cairn gc empties it)";
      } else {
        hint = "(abandoned unless a save is running; cairn gc removes it)";
      }
      rows.push_back({"  " + l["name"].get<std::string>() + "/", kind, what, hint});
    }
    os << Table(rows);
  }
  Print(env, os.str());
  return kExitOk;
}

// ---- tree ----

namespace {

// An Orbax (or other non-cairn) `_METADATA`: {"tree_metadata": {"('a', 'b')": {...}}}.
json OrbaxLeaves(const ItemInfo& item, const json& meta) {
  json leaves = json::array();
  // array_metadatas/process_*: chunk shapes by parameter name.
  std::map<std::string, json> chunk_of;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(item.dir / "array_metadatas", ec)) {
    std::ifstream in(e.path());
    json am = json::parse(in, nullptr, false);
    if (am.is_discarded() || !am.contains("array_metadatas")) continue;
    for (const auto& a : am["array_metadatas"]) {
      const json& m = a.contains("array_metadata") ? a["array_metadata"] : a;
      if (m.contains("param_name") && m.contains("chunk_shape")) {
        chunk_of[m["param_name"].get<std::string>()] = m["chunk_shape"];
      }
    }
  }
  // With OCDBT the arrays' keys live in the item's database (merged by the primary process).
  std::optional<cairn::ocdbt::ReadView> view;
  std::string view_error;
  if (meta.value("use_ocdbt", false)) {
    auto v = cairn::ocdbt::ReadView::Open(item.dir);
    if (v.ok()) {
      view = std::move(*v);
    } else {
      view_error = v.status().message();
    }
  }
  for (const auto& [key, entry] : meta["tree_metadata"].items()) {
    json l = {{"kind", "?"}};
    std::string path;
    if (entry.contains("key_metadata")) {
      for (const auto& k : entry["key_metadata"]) {
        path += (path.empty() ? "" : ".") + (k["key"].is_string() ? k["key"].get<std::string>()
                                                                    : k["key"].dump());
      }
    } else {
      path = key;
    }
    l["key_path"] = path;
    const json vm = entry.value("value_metadata", json::object());
    const std::string type = vm.value("value_type", "?");
    if (vm.value("skip_deserialize", false) && type != "jax.Array") continue;
    l["kind"] = type == "jax.Array" || type == "np.ndarray" ? "array" : type;
    l["orbax_type"] = type;
    if (vm.contains("write_shape")) l["global_shape"] = vm["write_shape"];
    if (chunk_of.count(path)) l["chunk_shape"] = chunk_of[path];
    if (l["kind"] == "array") {
      // The array's zarr.json: a key of the OCDBT database, or a file of its zarr directory.
      std::optional<std::string> text;
      if (view) {
        auto got = view->Get(path + "/zarr.json");
        if (got.ok()) {
          text = *got;
        } else {
          l["error"] = got.status().message();
        }
      } else {
        auto got = cairn::base::ReadFile(item.dir / path / "zarr.json");
        if (got.ok()) text = *got;
      }
      if (text) {
        auto z = cairn::ocdbt::ParseZarrMetadata(*text, {path + "/zarr.json", 0});
        if (z.ok()) {
          l["dtype"] = std::string(cairn::DTypeName(z->dtype));
          l["global_shape"] = z->shape;
          l["chunk_shape"] = z->inner_chunk_shape ? *z->inner_chunk_shape : z->chunk_shape;
          l["compression"] = z->zstd ? "zstd" : "none";
          uint64_t bytes = cairn::DTypeSize(z->dtype);
          for (uint64_t e : z->shape) bytes *= e;
          l["bytes"] = bytes;
        } else {
          l["error"] = z.status().message();
        }
      }
    }
    leaves.push_back(std::move(l));
  }
  return leaves;
}

json ScalarJson(const cairn::Scalar& s) {
  const uint64_t bits = s.bits();
  const cairn::DType d = s.dtype();
  if (d == cairn::DType::kBool) return bits != 0;
  if (cairn::IsSignedInteger(d)) {
    int64_t v = 0;
    cairn::base::ConvertElements(d, &bits, cairn::DType::kInt64, &v, 1);
    return v;
  }
  if (cairn::IsUnsignedInteger(d)) {
    uint64_t v = 0;
    cairn::base::ConvertElements(d, &bits, cairn::DType::kUint64, &v, 1);
    return v;
  }
  double v = 0;
  cairn::base::ConvertElements(d, &bits, cairn::DType::kFloat64, &v, 1);
  return v;
}

json CairnLeaves(const cairn::ItemMetadata& m) {
  json leaves = json::array();
  for (const auto& leaf : m.leaves) {
    json l = {{"key_path", cairn::KeyPathString(leaf.key_path)}, {"kind", leaf.kind}};
    if (leaf.kind == "array" || leaf.kind == "scalar") {
      l["dtype"] = std::string(cairn::DTypeName(leaf.dtype));
    }
    if (leaf.kind == "array") {
      l["global_shape"] = leaf.global_shape;
      if (leaf.chunk_shape) l["chunk_shape"] = *leaf.chunk_shape;
      if (leaf.source_dtype) l["source_dtype"] = std::string(cairn::DTypeName(*leaf.source_dtype));
      l["compression"] = leaf.compressed ? "zstd" : "none";
      l["pieces"] = leaf.pieces.size();
      l["bytes"] = LeafBytes(leaf);
    } else if (leaf.value) {
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, cairn::Scalar>) {
              l["value"] = ScalarJson(v);
            } else if constexpr (std::is_same_v<T, std::string>) {
              l["value"] = v;
            } else if constexpr (std::is_same_v<T, nlohmann::json>) {
              l["value"] = v;
            }
          },
          *leaf.value);
    }
    leaves.push_back(std::move(l));
  }
  return leaves;
}

}  // namespace

int RunTree(Env& env, const std::vector<std::string>& args) {
  po::options_description desc("cairn tree options");
  std::string dir;
  desc.add_options()("dir", po::value(&dir),
                     "a checkpoint, or a CheckpointManager directory (its latest step)");
  po::positional_options_description pos;
  pos.add("dir", 1);
  po::variables_map vm;
  if (!ParseCommandLine(env, args, desc, pos, vm, "cairn tree DIR[/STEP] [--json]")) {
    return kExitOk;
  }
  if (dir.empty()) throw UsageError("missing DIR");
  if (env.rank != 0) return kExitOk;
  const Target t = ResolveTarget(dir);
  fs::path ckpt = t.path;
  if (!t.is_checkpoint) {
    if (t.steps.empty()) throw CliError(t.path.string() + ": no committed checkpoints");
    ckpt = t.steps.back().path;
  }
  json out = {{"command", "tree"}, {"path", ckpt.string()}, {"items", json::array()}};
  for (const ItemInfo& item : ReadItems(ckpt)) {
    json ji = {{"name", item.name}, {"handler", item.handler}};
    // An item Orbax wrote (its `_METADATA`, no cairn metadata beside it) is shown as Orbax
    // describes it, whether or not cairn can read it.
    json meta;
    if (cairn::coord::ItemMetadataPath(item.dir).filename() == cairn::coord::kItemMetadataFile) {
      std::ifstream in(item.dir / cairn::coord::kItemMetadataFile);
      meta = json::parse(in, nullptr, false);
    }
    const bool orbax = !meta.is_discarded() && meta.is_object() && meta.contains("tree_metadata");
    if (item.tree && !orbax) {
      ji["format"] = "cairn";
      ji["backend"] = item.tree->backend;
      ji["leaves"] = CairnLeaves(*item.tree);
    } else if (item.tree || item.tree_error) {
      if (orbax) {
        ji["format"] = "orbax";
        ji["backend"] = std::string(meta.value("use_ocdbt", false) ? "ocdbt+" : "") +
                        (meta.value("use_zarr3", false) ? "zarr3" : "zarr");
        ji["leaves"] = OrbaxLeaves(item, meta);
      } else {
        ji["error"] = item.tree_error->message();
      }
    } else {
      json files = json::array();
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(item.dir, ec)) {
        files.push_back({{"name", e.path().filename().string()},
                         {"bytes", e.is_regular_file(ec) ? e.file_size(ec) : 0}});
      }
      ji["files"] = files;
    }
    out["items"].push_back(std::move(ji));
  }
  if (env.json) {
    PrintJson(env, out);
    return kExitOk;
  }
  std::ostringstream os;
  os << ckpt.string() << "\n";
  for (const auto& item : out["items"]) {
    os << "\n" << item["name"].get<std::string>();
    if (!item["handler"].get<std::string>().empty()) os << "  (" << item["handler"].get<std::string>() << ")";
    if (item.contains("backend")) {
      os << "  " << item["format"].get<std::string>() << " format, " << item["backend"].get<std::string>()
         << " backend";
    }
    os << "\n";
    if (item.contains("error")) os << "  unreadable _METADATA: " << item["error"].get<std::string>() << "\n";
    if (item.contains("files")) {
      for (const auto& f : item["files"]) {
        os << "  " << f["name"].get<std::string>() << "  " << HumanBytes(f["bytes"]) << "\n";
      }
    }
    if (!item.contains("leaves")) continue;
    std::vector<std::vector<std::string>> rows = {
        {"  KEY PATH", "KIND", "DTYPE", "SHAPE", "CHUNKS", "COMPRESSION", "PIECES", "BYTES"}};
    uint64_t total = 0;
    for (const auto& l : item["leaves"]) {
      auto str = [&](const char* k) {
        if (!l.contains(k)) return std::string("-");
        if (l[k].is_array()) return ShapeText(l[k].get<std::vector<int64_t>>());
        if (l[k].is_string()) return l[k].get<std::string>();
        return l[k].dump();
      };
      std::string kind = str("kind"), dtype = str("dtype");
      if (l.contains("source_dtype")) dtype += " (from " + l["source_dtype"].get<std::string>() + ")";
      if (l.contains("bytes")) total += l["bytes"].get<uint64_t>();
      if (l.contains("error")) {
        rows.push_back({"  " + str("key_path"), kind, "unreadable: " + l["error"].get<std::string>()});
      } else if (l.contains("value")) {
        std::string v = l["value"].dump();
        if (v.size() > 40) v = v.substr(0, 37) + "...";
        rows.push_back({"  " + str("key_path"), kind, dtype, "= " + v});
      } else {
        rows.push_back({"  " + str("key_path"), kind, dtype, str("global_shape"), str("chunk_shape"),
                        str("compression"), str("pieces"),
                        l.contains("bytes") ? HumanBytes(l["bytes"]) : "-"});
      }
    }
    os << Table(rows);
    if (total > 0) os << "  " << item["leaves"].size() << " leaves, " << HumanBytes(total) << "\n";
  }
  Print(env, os.str());
  return kExitOk;
}

}  // namespace cairn_cli
