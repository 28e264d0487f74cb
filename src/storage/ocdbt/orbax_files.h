#pragma once
// The files Orbax keeps beside an item's OCDBT database, for items the ocdbt backend writes, so
// that Orbax's StandardCheckpointHandler / PyTreeCheckpointHandler restore them:
//   _METADATA        tree metadata: per leaf its key path and value type ("jax.Array" for arrays,
//                    "scalar" for scalars (0-d zarr arrays in the database), "string" for strings
//                    and JSON leaves, whose text is stored); use_ocdbt, use_zarr3, ...
//   _sharding        per array (key: urlsafe base64 of the name) a NamedSharding on a one-device
//                    mesh of device id 0, replicated: a C++ MPI job has no JAX devices to record,
//                    and device 0 exists in any JAX process, so a restore without a target works
//                    whatever the device count (a target with shardings reshards as usual)
//   array_metadatas/process_0   write and chunk shapes (Orbax reads it for PRNG key arrays)
//   _strings.json    string leaves, by name
// cairn's own item metadata then lives in `_CAIRN_METADATA`. Pure encoders plus one writer.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cairn/metadata.h"

namespace cairn::storage {

inline constexpr char kOrbaxMetadataFile[] = "_METADATA";
inline constexpr char kOrbaxShardingFile[] = "_sharding";
inline constexpr char kOrbaxStringsFile[] = "_strings.json";
inline constexpr char kOrbaxArrayMetadataDir[] = "array_metadatas";

/// Python's repr of the tuple of `path`'s keys as strings: "('params', 'w')", "('a',)". Orbax
/// keys its tree metadata by it.
std::string OrbaxKeyTuple(const KeyPath& path);

/// Orbax's `_METADATA` for `m`; `chunks` maps array key paths to their stored chunk shape
/// (Orbax's write_shape).
std::string EncodeOrbaxTreeMetadata(const ItemMetadata& m,
                                    const std::map<std::string, std::vector<uint64_t>>& chunks);
/// `_sharding` for the arrays of `m`.
std::string EncodeOrbaxSharding(const ItemMetadata& m);
/// `array_metadatas/process_<p>` for the arrays of `m`.
std::string EncodeOrbaxArrayMetadatas(const ItemMetadata& m,
                                      const std::map<std::string, std::vector<uint64_t>>& chunks);
/// `_strings.json`: string leaves, and JSON leaves as their text; nullopt if there are none.
std::optional<std::string> EncodeOrbaxStrings(const ItemMetadata& m);

/// Writes the files above into `item_dir` (durably; `_sharding` only if `write_sharding`).
Status WriteOrbaxItemFiles(const std::filesystem::path& item_dir, const ItemMetadata& m,
                           const std::map<std::string, std::vector<uint64_t>>& chunks,
                           bool write_sharding, std::optional<uint32_t> file_mode);

}  // namespace cairn::storage
