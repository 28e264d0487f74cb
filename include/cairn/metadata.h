#pragma once
/// What a checkpoint records about itself, readable on any machine without MPI or the array data.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/tree.h"

namespace cairn {

/// The `_METADATA` format version this cairn writes. Readers accept versions <= this one and
/// refuse newer ones (FailedPrecondition naming both).
inline constexpr int kFormatVersion = 1;

/// One stored piece of an array.
struct PieceMetadata {
  Box box;
  uint64_t xxh3 = 0;      ///< XXH3-64 of the stored bytes (stored dtype, C order)
  int writer_rank = 0;
  nlohmann::json location;  ///< backend-specific
  /// False for pieces of checkpoints cairn did not write (Orbax's): no xxh3 to verify.
  bool checksummed = true;
};

/// One leaf of a stored tree.
struct LeafMetadata {
  KeyPath key_path;
  std::string kind;  ///< "array", "scalar", "string", "json"
  // Arrays:
  DType dtype = DType::kFloat32;  ///< stored dtype (also a scalar's dtype)
  std::optional<DType> source_dtype;  ///< the dtype before a save-time cast, if any
  Shape global_shape;
  std::optional<Shape> chunk_shape;
  bool compressed = false;
  std::vector<PieceMetadata> pieces;
  // Scalars, strings, JSON: the value itself.
  std::optional<Leaf> value;
};

/// An item's `_METADATA`.
struct ItemMetadata {
  int format_version = kFormatVersion;
  std::string backend;
  std::vector<LeafMetadata> leaves;  ///< sorted by key path order of the tree

  /// The leaf at `key_path` ("params.dense.kernel"), or nullptr.
  const LeafMetadata* Find(std::string_view key_path) const;
  /// The tree of the item, with arrays as DistributedArrays without pieces (dtype + shape only).
  Tree ToTree() const;
};

/// A checkpoint's `_CHECKPOINT_METADATA`.
struct CheckpointMetadata {
  nlohmann::json item_handlers = nlohmann::json::object();  ///< item name -> handler name
  nlohmann::json metrics = nlohmann::json::object();
  nlohmann::json custom_metadata = nlohmann::json::object();
  /// Seconds per save phase on the primary rank (validate, gather, create_directory, prepare,
  /// backend_write, exchange_checksums, write_metadata); the commit itself is not included.
  nlohmann::json performance_metrics = nlohmann::json::object();
  int64_t init_timestamp_nsecs = 0;
  int64_t commit_timestamp_nsecs = 0;
};

/// Reads `<checkpoint>/<item>/_METADATA` (no MPI, no array data). NotFound if absent, DataLoss if
/// unparsable, FailedPrecondition for a newer format version.
Result<ItemMetadata> ReadItemMetadata(const std::filesystem::path& checkpoint,
                                      std::string_view item = "default");
/// Reads `<checkpoint>/_CHECKPOINT_METADATA`.
Result<CheckpointMetadata> ReadCheckpointMetadata(const std::filesystem::path& checkpoint);
/// True if `checkpoint` is a committed checkpoint directory (has `commit_success.txt` and
/// `_CHECKPOINT_METADATA`; or, for a step Orbax wrote, a final name and `_CHECKPOINT_METADATA`:
/// Orbax commits by rename and wrote no marker on local file systems before 2026-08).
bool IsCommittedCheckpoint(const std::filesystem::path& checkpoint);
/// True if a directory name is a temporary (uncommitted) one that readers ignore.
bool IsTemporaryName(std::string_view name);

}  // namespace cairn
