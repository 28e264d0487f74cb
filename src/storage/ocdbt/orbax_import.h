#pragma once
// Items Orbax wrote (PyTreeCheckpointHandler / StandardCheckpointHandler with use_ocdbt and
// use_zarr3), described as cairn items so the ordinary restore path reads them through the
// ocdbt backend: arrays from their zarr.json in the item's merged OCDBT database, scalars from
// their 0-d arrays, strings from `_strings.json`. Orbax records no checksums, so the pieces are
// unchecksummed (one piece per array, the whole array).

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cairn/metadata.h"

namespace cairn::storage {

/// True if `doc` (a parsed `_METADATA`) is Orbax's tree metadata (a "tree_metadata" object)
/// rather than cairn's.
bool IsOrbaxTreeMetadata(const nlohmann::json& doc);

/// The cairn description of the Orbax item in `item_dir` whose `_METADATA` is `doc`.
/// Unimplemented for what cairn does not read (zarr v2: use_zarr3 false; no OCDBT; value types
/// other than jax.Array, np.ndarray, scalar, string), naming the key; DataLoss naming the file
/// for malformed metadata, zarr.json or databases.
Result<ItemMetadata> ImportOrbaxItem(const std::filesystem::path& item_dir,
                                     const nlohmann::json& doc);

}  // namespace cairn::storage
