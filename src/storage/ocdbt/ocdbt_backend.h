#pragma once
// The OCDBT backend (registry name "ocdbt"): zarr3 arrays in OCDBT databases laid out as Orbax
// does (ocdbt-format.md 1.13, 2, 3): each rank writes `<item>/ocdbt.process_<rank>/`, the primary
// merges them into `<item>/manifest.ocdbt`, which TensorStore's ocdbt kvstore opens.

#include <memory>

#include "cairn/backend.h"

namespace cairn::storage {

/// The backend. Each array's chunk grid is chosen in chunk_plan.h.
std::unique_ptr<Backend> MakeOcdbtBackend();

}  // namespace cairn::storage
