#pragma once
// Where a piece's memory lives, and the copies out of it. Device (CUDA) memory is copied to host
// through cudaMemcpy (into pinned buffers when the staging arena allocates them); restoring into
// device memory is not supported yet and gets a clear error instead of a segfault.
// Without CUDA every pointer is host memory and the pinned functions fall back to plain memory.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "cairn/status.h"

namespace cairn::checkpoint {

/// OK for host memory (and CUDA managed/host-registered memory); InvalidArgument naming `where`
/// for CUDA device memory. Always OK in a build without CUDA.
Status CheckHostMemory(const void* ptr, const std::string& where);

/// True when `ptr` is CUDA device memory (not managed, not host). Always false without CUDA or
/// without a CUDA driver.
bool IsDeviceMemory(const void* ptr);

/// Copies `n` bytes of CUDA device memory at `src` to host memory `dst` (pinned or pageable),
/// synchronously. Internal (naming the CUDA error) on failure; Unimplemented without CUDA.
Status CopyDeviceToHost(void* dst, const void* src, size_t n);

/// Copies `n` bytes of host memory at `src` (pinned or pageable) to CUDA device memory `dst`,
/// synchronously. Internal (naming the CUDA error) on failure; Unimplemented without CUDA.
Status CopyHostToDevice(void* dst, const void* src, size_t n);

/// Bytes of host memory available for new allocations without swapping (MemAvailable from
/// /proc/meminfo), or -1 when it cannot be read.
int64_t AvailableHostMemory();

/// Free bytes on the CUDA device that holds `device_ptr` (cudaMemGetInfo on that device; the
/// calling thread's current device is left as it was). nullopt without CUDA, when `device_ptr` is
/// not device memory, or when the query fails.
std::optional<int64_t> AvailableDeviceMemory(const void* device_ptr);

/// Whether pinned (page-locked) host buffers can be allocated (built with CUDA and a driver).
bool PinnedMemoryAvailable();
/// `n` bytes of pinned host memory (cudaHostAlloc), or plain memory when pinned memory is not
/// available; null only when out of memory. Free with FreeHostBuffer(ptr, pinned).
void* AllocateHostBuffer(size_t n, bool pinned);
void FreeHostBuffer(void* ptr, bool pinned);

}  // namespace cairn::checkpoint
