// cairn gc DIR: removes abandoned temporary directories and empties the trash (rank 0).
//
// A temporary directory (`<step>.cairn-tmp-<id>`, Orbax's `.orbax-checkpoint-tmp`) may belong to a
// save that is still running, so it is removed only when nothing in it changed for --older-than
// (default 1 h). Interrupted deletions (`*.cairn-tmp-deleting-*`) go whatever their age. A trash
// directory is one holding the `.cairn-trash` marker a CheckpointManager writes there; its steps
// are removed, the directory and marker stay. Committed steps are never touched.

#include <chrono>
#include <sstream>

#include "cli.h"
#include "coord/commit.h"
#include "manager/step_store.h"

namespace cairn_cli {
namespace {

// Seconds since anything under `dir` was last modified.
double QuietSeconds(const fs::path& dir) {
  std::error_code ec;
  auto newest = fs::last_write_time(dir, ec);
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    auto t = it->last_write_time(ec);
    if (!ec && t > newest) newest = t;
  }
  return std::chrono::duration<double>(fs::file_time_type::clock::now() - newest).count();
}

double ParseDuration(const std::string& text) {
  size_t pos = 0;
  double v = -1;
  try {
    v = std::stod(text, &pos);
  } catch (...) {
  }
  const std::string unit = v >= 0 ? text.substr(pos) : "?";
  if (unit.empty() || unit == "s") return v;
  if (unit == "m" || unit == "min") return v * 60;
  if (unit == "h") return v * 3600;
  if (unit == "d") return v * 86400;
  throw UsageError("--older-than: not a duration: '" + text + "' (e.g. 0, 90s, 30m, 1h, 2d)");
}

}  // namespace

int RunGc(Env& env, const std::vector<std::string>& args) {
  po::options_description desc("cairn gc options");
  std::string dir, older = "1h";
  std::vector<std::string> trash_paths;
  desc.add_options()("dir", po::value(&dir), "a CheckpointManager directory")(
      "older-than", po::value(&older)->default_value(older),
      "remove a temporary directory only if nothing in it changed for this long (0, 90s, 30m, 1h)")(
      "trash", po::value(&trash_paths),
      "also empty this trash directory (DeletionOptions.todelete_full_path); repeatable")(
      "dry-run,n", "say what would be removed, remove nothing");
  po::positional_options_description pos;
  pos.add("dir", 1);
  po::variables_map vm;
  if (!ParseCommandLine(env, args, desc, pos, vm,
                        "cairn gc DIR [--older-than 1h] [--trash PATH] [--dry-run] [--json]")) {
    return kExitOk;
  }
  if (dir.empty()) throw UsageError("missing DIR");
  const double min_age = ParseDuration(older);
  const bool dry = vm.count("dry-run") > 0;
  if (env.rank != 0) return kExitOk;
  const Target t = ResolveTarget(dir);
  if (t.is_checkpoint) {
    throw CliError(t.path.string() +
                   " is a checkpoint; cairn gc takes the directory that holds the steps");
  }
  json removed = json::array(), kept = json::array(), errors = json::array();
  uint64_t freed = 0;
  auto remove = [&](const fs::path& p, json entry) {
    auto [bytes, files] = DiskUsage(p);
    entry["path"] = p.string();
    entry["bytes"] = bytes;
    entry["files"] = files;
    std::error_code ec;
    if (!dry) fs::remove_all(p, ec);
    if (ec) {
      entry["error"] = ec.message();
      errors.push_back(std::move(entry));
      return;
    }
    freed += bytes;
    removed.push_back(std::move(entry));
  };
  auto empty_trash = [&](const fs::path& trash) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(trash, ec)) {
      if (e.path().filename() == cairn::manager::kTrashMarkerFile) continue;
      remove(e.path(), {{"kind", "trash"}, {"name", e.path().filename().string()}});
    }
  };

  std::error_code ec;
  std::vector<fs::directory_entry> entries;
  for (const auto& e : fs::directory_iterator(t.path, ec)) entries.push_back(e);
  if (ec) throw CliError(t.path.string() + ": " + ec.message());
  std::sort(entries.begin(), entries.end());
  for (const auto& e : entries) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory(ec)) continue;
    if (name.find(std::string(cairn::coord::kTmpMarker) + "deleting-") != std::string::npos) {
      remove(e.path(), {{"kind", "interrupted deletion"}, {"name", name}});
    } else if (cairn::IsTemporaryName(name)) {
      const double age = QuietSeconds(e.path());
      if (age >= min_age) {
        remove(e.path(), {{"kind", "temporary"}, {"name", name}, {"age_secs", age}});
      } else {
        kept.push_back({{"kind", "temporary"}, {"name", name}, {"path", e.path().string()},
                        {"age_secs", age},
                        {"reason", "modified " + std::to_string(static_cast<int64_t>(age)) +
                                       " s ago: a save may be running (--older-than " + older +
                                       ")"}});
      }
    } else if (fs::exists(e.path() / cairn::manager::kTrashMarkerFile, ec)) {
      empty_trash(e.path());
    }
  }
  for (const auto& p : trash_paths) {
    if (!fs::is_directory(p, ec)) throw CliError(p + ": no such directory (--trash)");
    if (!fs::exists(fs::path(p) / cairn::manager::kTrashMarkerFile, ec)) {
      throw CliError(p + ": no " + std::string(cairn::manager::kTrashMarkerFile) +
                     " marker, so not a CheckpointManager trash; nothing removed");
    }
    empty_trash(p);
  }

  const int code = errors.empty() ? kExitOk : kExitError;
  if (env.json) {
    PrintJson(env, {{"command", "gc"}, {"path", t.path.string()}, {"dry_run", dry},
                    {"removed", removed}, {"kept", kept}, {"errors", errors},
                    {"freed_bytes", freed}});
    return code;
  }
  std::ostringstream os;
  const char* verb = dry ? "would remove" : "removed";
  for (const auto& r : removed) {
    os << verb << " " << r["path"].get<std::string>() << "/ (" << r["kind"].get<std::string>()
       << ", " << HumanBytes(r["bytes"]) << ")\n";
  }
  for (const auto& k : kept) {
    os << "kept " << k["path"].get<std::string>() << "/ (" << k["reason"].get<std::string>()
       << ")\n";
  }
  for (const auto& x : errors) {
    os << "could not remove " << x["path"].get<std::string>() << ": "
       << x["error"].get<std::string>() << "\n";
  }
  if (removed.empty() && errors.empty()) {
    os << t.path.string() << ": nothing to remove\n";
  } else {
    os << (dry ? "would free " : "freed ") << HumanBytes(freed) << "\n";
  }
  Print(env, os.str());
  if (!errors.empty()) {
    throw CliError(std::to_string(errors.size()) + " entries could not be removed");
  }
  return code;
}

}  // namespace cairn_cli
