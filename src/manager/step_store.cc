#include "manager/step_store.h"

#include <cerrno>
#include <cstdio>
#include <map>

#include "base/fs.h"
#include "coord/commit.h"

namespace cairn::manager {

namespace fs = std::filesystem;
using nlohmann::json;

Result<std::vector<CheckpointManager::StepInfo>> ListSteps(
    const fs::path& root, const StepNameFormat& format,
    const std::vector<CheckpointManager::StepInfo>* known) {
  std::map<std::string, const CheckpointManager::StepInfo*> cached;
  if (known != nullptr) {
    for (const auto& s : *known) cached[s.name] = &s;
  }
  std::vector<CheckpointManager::StepInfo> steps;
  std::error_code ec;
  fs::directory_iterator it(root, ec);
  if (ec) return base::ErrnoError(ec.value(), "cannot list checkpoint directory", root);
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (IsTemporaryName(name)) continue;
    const auto step = ParseStepName(format, name);
    if (!step || !entry.is_directory(ec)) continue;
    if (auto it = cached.find(name); it != cached.end()) {
      steps.push_back(*it->second);
      continue;
    }
    if (!IsCommittedCheckpoint(entry.path())) continue;  // killed mid-rename or foreign
    auto meta = ReadCheckpointMetadata(entry.path());
    if (!meta.ok()) continue;
    CheckpointManager::StepInfo info;
    info.step = *step;
    info.name = name;
    info.commit_timestamp_nsecs = meta->commit_timestamp_nsecs;
    if (meta->metrics.is_object() && !meta->metrics.empty()) info.metrics = meta->metrics;
    steps.push_back(std::move(info));
  }
  std::sort(steps.begin(), steps.end(), [](const auto& a, const auto& b) {
    return a.step != b.step ? a.step < b.step : a.name < b.name;
  });
  // Two names for one step ("42" and "0042"): keep the one in the current format.
  std::vector<CheckpointManager::StepInfo> unique;
  for (auto& s : steps) {
    if (!unique.empty() && unique.back().step == s.step) {
      if (s.name == FormatStepName(format, s.step)) unique.back() = std::move(s);
      continue;
    }
    unique.push_back(std::move(s));
  }
  return unique;
}

Status DeleteStep(const fs::path& root, const std::string& name,
                  const std::optional<fs::path>& trash, std::optional<uint32_t> mode) {
  const fs::path from = root / name;
  if (trash) {
    CAIRN_RETURN_IF_ERROR(base::CreateDirectories(*trash, mode));
    std::error_code ec;
    // The marker tells `cairn ls` and `cairn gc` that this directory is a manager's trash.
    const fs::path marker = *trash / kTrashMarkerFile;
    if (!fs::exists(marker, ec)) {
      CAIRN_RETURN_IF_ERROR(base::WriteFileDurably(
          marker, "steps deleted by a cairn CheckpointManager; `cairn gc` empties this directory\n",
          mode));
    }
    fs::path to = *trash / name;
    if (fs::exists(to, ec)) to = *trash / (name + "." + std::to_string(coord::NowNanos()));
    if (std::rename(from.c_str(), to.c_str()) != 0) {
      const int err = errno;
      return base::ErrnoError(err,
                              "cannot move step '" + name + "' to the trash '" + to.string() + "'" +
                                  (err == EXDEV ? " (another file system)" : ""),
                              from);
    }
    return base::FsyncPath(root);
  }
  // A temporary name first: a crash during the removal leaves garbage, never a broken step.
  const fs::path doomed =
      root / (name + coord::kTmpMarker + "deleting-" + std::to_string(coord::NowNanos()));
  if (std::rename(from.c_str(), doomed.c_str()) != 0) {
    return base::ErrnoError(errno, "cannot delete step '" + name + "'", from);
  }
  CAIRN_RETURN_IF_ERROR(base::FsyncPath(root));
  std::error_code ec;
  fs::remove_all(doomed, ec);
  if (ec) return base::ErrnoError(ec.value(), "cannot remove deleted step", doomed);
  return OkStatus();
}

void RemoveTemporaryEntries(const fs::path& root, bool only_deletions) {
  std::error_code ec;
  std::vector<fs::path> doomed;
  const std::string deleting = std::string(coord::kTmpMarker) + "deleting-";
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (only_deletions ? name.find(deleting) != std::string::npos : IsTemporaryName(name)) {
      doomed.push_back(entry.path());
    }
  }
  for (const auto& p : doomed) fs::remove_all(p, ec);
}

json StepsToJson(const std::vector<CheckpointManager::StepInfo>& steps) {
  json out = json::array();
  for (const auto& s : steps) {
    out.push_back({{"step", s.step},
                   {"name", s.name},
                   {"commit_timestamp_nsecs", s.commit_timestamp_nsecs},
                   {"metrics", s.metrics ? *s.metrics : json()}});
  }
  return out;
}

std::vector<CheckpointManager::StepInfo> StepsFromJson(const json& j) {
  std::vector<CheckpointManager::StepInfo> out;
  if (!j.is_array()) return out;
  for (const auto& e : j) {
    CheckpointManager::StepInfo s;
    s.step = e.value("step", int64_t{0});
    s.name = e.value("name", std::string());
    s.commit_timestamp_nsecs = e.value("commit_timestamp_nsecs", int64_t{0});
    if (e.contains("metrics") && !e["metrics"].is_null()) s.metrics = e["metrics"];
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace cairn::manager
