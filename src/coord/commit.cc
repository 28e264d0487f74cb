#include "coord/commit.h"

#include <unistd.h>

#include <chrono>
#include <random>
#include <system_error>

#include "base/fs.h"
#include "format/metadata_json.h"
#include "storage/ocdbt/orbax_import.h"

namespace cairn::coord {

namespace fs = std::filesystem;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<fs::path> CreateTemporaryCheckpoint(const fs::path& final_dir,
                                           const std::vector<std::string>& items,
                                           std::optional<uint32_t> mode) {
  std::error_code ec;
  if (fs::exists(final_dir, ec)) {
    if (IsCommittedCheckpoint(final_dir)) {
      return AlreadyExistsError("checkpoint '" + final_dir.string() +
                                "' already exists; choose another step or delete it first");
    }
    return FailedPreconditionError("'" + final_dir.string() +
                                   "' exists but is not a committed cairn checkpoint; "
                                   "refusing to overwrite it");
  }
  const fs::path parent = final_dir.parent_path().empty() ? fs::path(".") : final_dir.parent_path();
  CAIRN_RETURN_IF_ERROR(base::CreateDirectories(parent, mode));
  std::random_device rd;
  const std::string unique = std::to_string(NowNanos()) + "-" + std::to_string(::getpid()) + "-" +
                             std::to_string(rd() & 0xffff);
  fs::path tmp = parent / (final_dir.filename().string() + kTmpMarker + unique);
  CAIRN_RETURN_IF_ERROR(base::CreateDirectories(tmp, mode));
  for (const auto& item : items) CAIRN_RETURN_IF_ERROR(base::CreateDirectories(tmp / item, mode));
  return tmp;
}

Status CommitCheckpoint(const fs::path& tmp_dir, const fs::path& final_dir,
                        std::optional<uint32_t> mode) {
  CAIRN_RETURN_IF_ERROR(base::WriteFileDurably(
      tmp_dir / kCommitMarkerFile,
      "Checkpoint commit was successful to " + final_dir.string() + "\n", mode));
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(tmp_dir, ec)) {
    if (entry.is_directory()) CAIRN_RETURN_IF_ERROR(base::FsyncPath(entry.path()));
  }
  CAIRN_RETURN_IF_ERROR(base::FsyncPath(tmp_dir));
  if (::rename(tmp_dir.c_str(), final_dir.c_str()) != 0) {
    int err = errno;
    return Status(base::ErrnoToCode(err), "cannot rename '" + tmp_dir.string() + "' to '" +
                                              final_dir.string() + "': " + base::ErrnoMessage(err));
  }
  const fs::path parent = final_dir.parent_path().empty() ? fs::path(".") : final_dir.parent_path();
  CAIRN_RETURN_IF_ERROR(base::FsyncPath(parent));
  // Leftovers of killed saves of this same checkpoint are garbage now.
  const std::string prefix = final_dir.filename().string() + kTmpMarker;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) fs::remove_all(entry.path(), ec);
  }
  return OkStatus();
}

void AbandonTemporaryCheckpoint(const fs::path& tmp_dir) {
  std::error_code ec;
  fs::remove_all(tmp_dir, ec);
}

Status CheckCommitted(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return NotFoundError("checkpoint directory '" + dir.string() + "' does not exist");
  }
  if (IsTemporaryName(dir.filename().string())) {
    return FailedPreconditionError("'" + dir.string() +
                                   "' is a temporary directory of an unfinished save");
  }
  if (!fs::exists(dir / kCommitMarkerFile, ec) && fs::exists(dir / kCheckpointMetadataFile, ec)) {
    // Orbax on a local file system commits by renaming its temporary directory and (before
    // 2026-08) wrote no commit_success.txt: a final-named step Orbax wrote is committed. cairn
    // always writes the marker, so its own steps without one stay uncommitted. Orbax's name
    // its handlers ("orbax.checkpoint..."); cairn's record cairn_performance_metrics.
    auto text = base::ReadFile(dir / kCheckpointMetadataFile);
    if (text.ok() && text->find("\"orbax.") != std::string::npos &&
        text->find("\"cairn.") == std::string::npos &&
        text->find("cairn_performance_metrics") == std::string::npos) {
      return OkStatus();
    }
  }
  if (!fs::exists(dir / kCommitMarkerFile, ec) || !fs::exists(dir / kCheckpointMetadataFile, ec)) {
    return FailedPreconditionError("'" + dir.string() + "' is not a committed checkpoint (no " +
                                   kCommitMarkerFile + " or " + kCheckpointMetadataFile + ")");
  }
  return OkStatus();
}

std::filesystem::path ItemDirectory(const std::filesystem::path& checkpoint,
                                    const std::string& item) {
  std::error_code ec;
  const auto sub = checkpoint / item;
  if (item == "default" && !std::filesystem::is_directory(sub, ec) &&
      std::filesystem::exists(checkpoint / kItemMetadataFile, ec)) {
    return checkpoint;
  }
  return sub;
}

std::filesystem::path ItemMetadataPath(const std::filesystem::path& item_dir) {
  std::error_code ec;
  const auto cairn = item_dir / kCairnItemMetadataFile;
  if (std::filesystem::exists(cairn, ec)) return cairn;
  return item_dir / kItemMetadataFile;
}

Result<ItemMetadata> LoadItemMetadata(const std::filesystem::path& item_dir) {
  const auto path = ItemMetadataPath(item_dir);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return NotFoundError("item directory '" + item_dir.string() + "' has neither " +
                         kCairnItemMetadataFile + " nor " + kItemMetadataFile);
  }
  CAIRN_ASSIGN_OR_RETURN(std::string text, base::ReadFile(path));
  if (path.filename() == kItemMetadataFile) {
    const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (storage::IsOrbaxTreeMetadata(doc)) {
      try {
        return storage::ImportOrbaxItem(item_dir, doc);
      } catch (const nlohmann::json::exception& e) {
        return DataLossError("'" + path.string() + "': " + e.what());
      }
    }
  }
  return format::DecodeItemMetadata(text, path.string());
}

}  // namespace cairn::coord

namespace cairn {

bool IsTemporaryName(std::string_view name) {
  return name.find(coord::kTmpMarker) != std::string_view::npos ||
         name.find(".orbax-checkpoint-tmp") != std::string_view::npos;
}

bool IsCommittedCheckpoint(const std::filesystem::path& checkpoint) {
  return coord::CheckCommitted(checkpoint).ok();
}

Result<ItemMetadata> ReadItemMetadata(const std::filesystem::path& checkpoint,
                                      std::string_view item) {
  const auto dir = coord::ItemDirectory(checkpoint, std::string(item));
  std::error_code ec;
  if (!std::filesystem::exists(coord::ItemMetadataPath(dir), ec)) {
    return NotFoundError("no item '" + std::string(item) + "' in checkpoint '" +
                         checkpoint.string() + "' (missing " + (dir / coord::kItemMetadataFile).string() +
                         ")");
  }
  return coord::LoadItemMetadata(dir);
}

Result<CheckpointMetadata> ReadCheckpointMetadata(const std::filesystem::path& checkpoint) {
  const auto path = checkpoint / coord::kCheckpointMetadataFile;
  CAIRN_ASSIGN_OR_RETURN(std::string text, base::ReadFile(path));
  return format::DecodeCheckpointMetadata(text, path.string());
}

const LeafMetadata* ItemMetadata::Find(std::string_view key_path) const {
  for (const auto& leaf : leaves) {
    if (KeyPathString(leaf.key_path) == key_path) return &leaf;
  }
  return nullptr;
}

Tree ItemMetadata::ToTree() const {
  Tree t;
  for (const auto& leaf : leaves) {
    Tree value;
    if (leaf.kind == "array") {
      DistributedArray a;
      a.dtype = leaf.dtype;
      a.global_shape = leaf.global_shape;
      value = Tree(std::move(a));
    } else if (leaf.value) {
      if (const auto* s = std::get_if<Scalar>(&*leaf.value)) value = Tree(*s);
      else if (const auto* str = std::get_if<std::string>(&*leaf.value)) value = Tree(*str);
      else value = Tree::Json(std::get<nlohmann::json>(*leaf.value));
    }
    t.Insert(leaf.key_path, std::move(value)).IgnoreError();
  }
  return t;
}

}  // namespace cairn
