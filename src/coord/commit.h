#pragma once
// The atomic commit protocol's file-system side: temporary directories, the commit marker, the
// rename, and reading committed metadata. Called by the primary rank only.

#include <filesystem>
#include <optional>
#include <string>

#include "cairn/metadata.h"
#include "cairn/status.h"

namespace cairn::coord {

inline constexpr char kTmpMarker[] = ".cairn-tmp-";
inline constexpr char kCommitMarkerFile[] = "commit_success.txt";
inline constexpr char kCheckpointMetadataFile[] = "_CHECKPOINT_METADATA";
inline constexpr char kItemMetadataFile[] = "_METADATA";

/// Checks that `final_dir` can be created (AlreadyExists if it is a checkpoint already,
/// FailedPrecondition if something else is there), creates its parent and a fresh temporary
/// sibling `<name>.cairn-tmp-<unique>` with one subdirectory per item. Returns the temporary path.
Result<std::filesystem::path> CreateTemporaryCheckpoint(const std::filesystem::path& final_dir,
                                                        const std::vector<std::string>& items,
                                                        std::optional<uint32_t> mode);

/// Writes `commit_success.txt`, fsyncs the temporary tree's directories, renames it to
/// `final_dir` and fsyncs the parent. Then removes older temporary siblings of the same name
/// (left by killed saves), best effort.
Status CommitCheckpoint(const std::filesystem::path& tmp_dir,
                        const std::filesystem::path& final_dir, std::optional<uint32_t> mode);

/// Best-effort removal of a temporary directory after a failed save.
void AbandonTemporaryCheckpoint(const std::filesystem::path& tmp_dir);

/// NotFound / FailedPrecondition unless `dir` is a committed checkpoint.
Status CheckCommitted(const std::filesystem::path& dir);

int64_t NowNanos();

}  // namespace cairn::coord
