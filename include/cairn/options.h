#pragma once
/// Options, as plain aggregates with documented defaults, named after their Orbax counterparts
/// (see docs/orbax-mapping.md). Fill them with designated initializers:
///   SaveOptions{.array = {.use_compression = false}}

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/tree.h"

namespace cairn {

/// Per-leaf storage customisation (Orbax `ArrayOptions.Saving.StorageOptions`).
struct StorageOptions {
  /// Cast to this dtype before saving (any cast is allowed: the caller asked for it).
  /// Default: none, the array's own dtype is stored.
  std::optional<DType> dtype;
  /// Largest chunk in bytes; the chunk shape is chosen greedily by halving the largest dimension
  /// until it fits. Default: none (contiguous layout without compression; with compression one
  /// chunk per written piece, capped at 64 MiB).
  std::optional<int64_t> chunk_byte_size;
};

/// Called for every array leaf; a returned StorageOptions overrides the global one field by field
/// (fields that are set win). Orbax `scoped_storage_options_creator`.
using ScopedStorageOptionsCreator =
    std::function<std::optional<StorageOptions>(const KeyPath&, const DistributedArray&)>;

/// Array options (Orbax `ArrayOptions`).
struct ArrayOptions {
  /// Saving (Orbax `ArrayOptions.Saving`).
  struct Saving {
    /// Global storage options for every array leaf. Default: none set.
    StorageOptions storage_options;
    /// Compress array data with zstd (HDF5 filter 32015). Default: true, as in Orbax.
    bool use_compression = true;
    /// zstd level used when compressing. Default: 3 (zstd's default level).
    int compression_level = 3;
    /// Per-leaf overrides of `storage_options`. Default: none.
    ScopedStorageOptionsCreator scoped_storage_options_creator;
  };
  /// Loading (Orbax `ArrayOptions.Loading`).
  struct Loading {
    /// Allow a target global shape that differs from the stored one (same rank): the overlap is
    /// restored, the rest of the target is zero-filled, stored data outside it is dropped.
    /// Default: false (a shape mismatch is InvalidArgument naming the key path).
    bool enable_padding_and_truncation = false;
    /// A region of the target not covered by stored data is an error (DataLoss naming the key
    /// path and region). When false it is zero-filled. Default: true.
    bool raise_array_data_missing_error = true;
  };
};

/// Directory and file options (Orbax `FileOptions`).
struct FileOptions {
  /// Permission bits for created step/item directories and metadata files, e.g. 0750.
  /// Default: none (the process umask decides).
  std::optional<uint32_t> path_permission_mode;
};

/// Multi-process options (Orbax `MultiprocessingOptions`).
struct MultiprocessingOptions {
  /// Rank (in the checkpointer's communicator) that writes shared metadata and commits.
  /// Default: 0.
  int primary_host = 0;
};

/// Options for one save.
struct SaveOptions {
  /// Storage backend, by registry name ("hdf5", "reference"). Default: "hdf5".
  std::string backend = "hdf5";
  /// Array saving options. Default: see ArrayOptions::Saving.
  ArrayOptions::Saving array;
  /// User metadata stored in `_CHECKPOINT_METADATA` (`custom_metadata`). Default: empty object.
  nlohmann::json custom_metadata = nlohmann::json::object();
  /// Metrics stored in `_CHECKPOINT_METADATA` (`metrics`). Default: empty object.
  nlohmann::json metrics = nlohmann::json::object();
};

/// Options for one restore.
struct RestoreOptions {
  /// Array loading options. Default: see ArrayOptions::Loading.
  ArrayOptions::Loading array;
  /// Restore only the keys of the target; keys the checkpoint holds beyond them are not read and
  /// are not errors (Orbax `PyTreeOptions.Loading.partial_load`). Default: false.
  bool partial_load = false;
  /// Missing keys (in the target, not in the checkpoint) and, unless `partial_load`, unexpected
  /// keys (in the checkpoint, not in the target) are NotFound/InvalidArgument errors naming them.
  /// When false they are skipped and listed in the RestoreReport. Default: true.
  bool strict = true;
  /// Restore into a target dtype different from the stored one when the cast is exact
  /// (e.g. int16 -> int32, float32 -> float64). Default: false (a dtype mismatch is an error).
  bool allow_cast = false;
  /// Also allow casts that may lose information (float -> int, narrowing, int32 -> float32
  /// beyond 2^24). Implies allow_cast. Default: false.
  bool allow_lossy_cast = false;
  /// Verify each stored piece's xxh3 checksum while reading (whole stored pieces are read).
  /// Default: true.
  bool verify_checksums = true;
};

/// What a restore did not restore (only non-empty when `strict` is false).
struct RestoreReport {
  /// Key paths in the target that the checkpoint does not hold (left untouched).
  std::vector<std::string> skipped_missing;
  /// Key paths in the checkpoint that the target does not hold (not read).
  std::vector<std::string> skipped_unexpected;
};

}  // namespace cairn
