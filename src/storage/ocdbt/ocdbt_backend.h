#pragma once
// The OCDBT backend (registry name "ocdbt"): zarr3 arrays in OCDBT databases laid out as Orbax
// does (ocdbt-format.md 1.13, 2, 3): each rank writes `<item>/ocdbt.process_<rank>/`, the primary
// merges them into `<item>/manifest.ocdbt`, which TensorStore's ocdbt kvstore opens.

#include <memory>

#include "cairn/backend.h"

namespace cairn::storage {

/// The chunk grid of an array leaf: per dimension, the GCD of every rank's piece origins and
/// extents (and of WriteLeaf::chunk_shape when given), so that every piece is a union of whole
/// chunks; a dimension no piece constrains is one chunk; 1 for an empty dimension.
std::unique_ptr<Backend> MakeOcdbtBackend();

}  // namespace cairn::storage
