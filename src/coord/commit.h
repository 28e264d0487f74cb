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
/// cairn's item metadata where the backend's format owns `_METADATA` (ocdbt: Orbax's).
inline constexpr char kCairnItemMetadataFile[] = "_CAIRN_METADATA";

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

/// The directory of `item` in `checkpoint`: `checkpoint/item`, or the checkpoint itself for
/// "default" when it has no such subdirectory but holds an item's `_METADATA` at the top (the
/// layout of Orbax's StandardCheckpointer / PyTreeCheckpointer).
std::filesystem::path ItemDirectory(const std::filesystem::path& checkpoint,
                                    const std::string& item);

/// The path of the file holding an item's metadata: `_CAIRN_METADATA` if present, else
/// `_METADATA`.
std::filesystem::path ItemMetadataPath(const std::filesystem::path& item_dir);

/// An item's metadata, from ItemMetadataPath: cairn's, or Orbax's tree metadata described as a
/// cairn item (storage/ocdbt/orbax_import.h). NotFound if neither file exists (naming both),
/// DataLoss naming the file if unparsable.
Result<ItemMetadata> LoadItemMetadata(const std::filesystem::path& item_dir);

}  // namespace cairn::coord
