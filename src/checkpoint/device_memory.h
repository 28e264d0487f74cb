#pragma once
// Where a piece's memory lives. Device (CUDA) memory is recognised so that it gets a clear error
// instead of a segfault; staging device arrays through pinned host buffers is planned.

#include <string>

#include "cairn/status.h"

namespace cairn::checkpoint {

/// OK for host memory (and CUDA managed/host-registered memory); InvalidArgument naming `where`
/// for CUDA device memory. Always OK in a build without CUDA.
Status CheckHostMemory(const void* ptr, const std::string& where);

}  // namespace cairn::checkpoint
