#pragma once
// The parallel HDF5 backend (registry name "hdf5").

#include <memory>

#include "cairn/backend.h"

namespace cairn::storage {

/// One HDF5 file per item (`<item_dir>/data.h5`), one dataset per array leaf at its key path.
std::unique_ptr<Backend> MakeHdf5Backend();

}  // namespace cairn::storage
