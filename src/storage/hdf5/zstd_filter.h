#pragma once
// The zstd HDF5 filter (registered filter id 32015), byte-compatible with hdf5plugin and
// HDF5Plugin-Zstandard: cd_values[0] is the compression level (default 3) and a compressed chunk
// is one plain zstd frame that records its content size.

#include <hdf5.h>

#include <cstddef>

#include "cairn/status.h"

namespace cairn::storage {

/// The id The HDF Group registered for zstd.
inline constexpr H5Z_filter_t kZstdFilterId = 32015;
/// Level used when cd_values is empty.
inline constexpr int kZstdDefaultLevel = 3;

/// The filter callback (H5Z_func_t). Compresses (or, with H5Z_FLAG_REVERSE, decompresses) the
/// `nbytes` at `*buf`, replacing `*buf` (malloc'd, as HDF5 allocates filter buffers) and
/// `*buf_size`. Returns the new number of valid bytes, or 0 on any error, including corrupt or
/// truncated input; never reads or writes outside the buffers.
size_t ZstdFilter(unsigned flags, size_t cd_nelmts, const unsigned cd_values[], size_t nbytes,
                  size_t* buf_size, void** buf);

/// The filter's class, for H5Zregister and for the dynamically loaded plugin.
const H5Z_class2_t* ZstdFilterClass();

/// Registers the filter with this process's HDF5 library. Idempotent and thread-safe; later
/// calls return the first call's outcome. Internal with HDF5's error text on failure.
Status RegisterZstdFilter();

}  // namespace cairn::storage
