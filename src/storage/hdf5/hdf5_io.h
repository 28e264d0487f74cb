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
/// checkpointer may save from a background thread while another item is restored. Recursive: a
/// WritePiece::acquire runs while the write holds it, and may itself read HDF5 (`cairn convert`
/// from one HDF5 checkpoint into another).
std::recursive_mutex& Hdf5Mutex();

}  // namespace cairn::storage::hdf5
