#pragma once
// The two operations of the HDF5 backend, split by file (internal to the backend).

#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "cairn/backend.h"

namespace cairn::storage::hdf5 {

/// Backend::Write for the HDF5 backend (see hdf5_write.cc).
Result<std::vector<std::vector<nlohmann::json>>> WriteItem(const BackendContext& ctx,
                                                           std::span<const WriteLeaf> leaves);
/// Backend::Read for the HDF5 backend (see hdf5_read.cc).
Status ReadItem(const BackendContext& ctx, std::span<const ReadLeaf> leaves);

/// Serialises this process's HDF5 calls: the packaged libhdf5 is not thread-safe, and an async
/// checkpointer may save from a background thread while another item is restored.
std::mutex& Hdf5Mutex();

}  // namespace cairn::storage::hdf5
