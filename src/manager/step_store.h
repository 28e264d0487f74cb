#pragma once
// The manager's file-system side, run on the primary rank only: listing committed steps, root
// metadata, deleting or trashing steps (internal).

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cairn/checkpoint_manager.h"
#include "manager/step_names.h"

namespace cairn::manager {

inline constexpr char kRootMetadataDir[] = "metadata";
inline constexpr char kRootMetadataFile[] = "_ROOT_METADATA";
/// Written into a trash directory (DeletionOptions) when the first step is moved there.
inline constexpr char kTrashMarkerFile[] = ".cairn-trash";

/// The committed steps under `root` (ascending). Temporary, trash and unparsable entries are
/// skipped; so is a step whose `_CHECKPOINT_METADATA` cannot be read (not a usable checkpoint).
/// A directory already described in `known` (by name) is not read again.
Result<std::vector<CheckpointManager::StepInfo>> ListSteps(
    const std::filesystem::path& root, const StepNameFormat& format,
    const std::vector<CheckpointManager::StepInfo>* known);

/// Removes a step: renamed to a temporary name first (so a crash never leaves a half-deleted
/// directory that looks committed), then removed; or moved to `trash` when set.
Status DeleteStep(const std::filesystem::path& root, const std::string& name,
                  const std::optional<std::filesystem::path>& trash, std::optional<uint32_t> mode);

/// Removes leftover `*.cairn-tmp-*` entries directly under `root` (best effort); with
/// `only_deletions`, only steps whose deletion was interrupted (`*.cairn-tmp-deleting-*`).
void RemoveTemporaryEntries(const std::filesystem::path& root, bool only_deletions = false);

/// Encodes/decodes the step list for the broadcast from the primary.
nlohmann::json StepsToJson(const std::vector<CheckpointManager::StepInfo>& steps);
std::vector<CheckpointManager::StepInfo> StepsFromJson(const nlohmann::json& j);

}  // namespace cairn::manager
