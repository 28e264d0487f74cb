#include "checkpoint/device_memory.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cairn_config.h"
#if CAIRN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace cairn::checkpoint {

int64_t AvailableHostMemory() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    int64_t kib = -1;
    std::string unit;
    if (!(fields >> kib >> unit) || unit != "kB") return -1;
    return kib * 1024;
  }
  return -1;
}

Status CheckHostMemory(const void* ptr, const std::string& where) {
  if (IsDeviceMemory(ptr)) {
    return InvalidArgumentError(where +
                                ": the piece points at CUDA device memory; restoring into device "
                                "arrays is not supported by this version, restore into host "
                                "memory and copy");
  }
  return OkStatus();
}

#if CAIRN_HAVE_CUDA
bool IsDeviceMemory(const void* ptr) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error: no CUDA driver means plain host memory
    return false;
  }
  return attr.type == cudaMemoryTypeDevice;
}

Status CopyDeviceToHost(void* dst, const void* src, size_t n) {
  cudaError_t err = cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost);
  if (err != cudaSuccess) {
    return InternalError(std::string("cudaMemcpy device-to-host of ") + std::to_string(n) +
                         " bytes failed: " + cudaGetErrorString(err));
  }
  return OkStatus();
}

Status CopyHostToDevice(void* dst, const void* src, size_t n) {
  cudaError_t err = cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice);
  if (err != cudaSuccess) {
    return InternalError(std::string("cudaMemcpy host-to-device of ") + std::to_string(n) +
                         " bytes failed: " + cudaGetErrorString(err));
  }
  return OkStatus();
}

std::optional<int64_t> AvailableDeviceMemory(const void* device_ptr) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, device_ptr) != cudaSuccess) {
    cudaGetLastError();
    return std::nullopt;
  }
  if (attr.type != cudaMemoryTypeDevice) return std::nullopt;
  int previous = -1;
  if (cudaGetDevice(&previous) != cudaSuccess) previous = -1;
  if (cudaSetDevice(attr.device) != cudaSuccess) {
    cudaGetLastError();
    return std::nullopt;
  }
  size_t free_bytes = 0, total_bytes = 0;
  const cudaError_t err = cudaMemGetInfo(&free_bytes, &total_bytes);
  if (previous >= 0) cudaSetDevice(previous);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::nullopt;
  }
  return static_cast<int64_t>(free_bytes);
}

bool PinnedMemoryAvailable() {
  static const bool available = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return n > 0;
  }();
  return available;
}

void* AllocateHostBuffer(size_t n, bool pinned) {
  if (pinned && PinnedMemoryAvailable()) {
    void* p = nullptr;
    if (cudaHostAlloc(&p, n == 0 ? 1 : n, cudaHostAllocDefault) == cudaSuccess) return p;
    cudaGetLastError();
    return nullptr;
  }
  return std::malloc(n == 0 ? 1 : n);
}

void FreeHostBuffer(void* ptr, bool pinned) {
  if (ptr == nullptr) return;
  if (pinned && PinnedMemoryAvailable()) {
    cudaFreeHost(ptr);
    return;
  }
  std::free(ptr);
}
#else
bool IsDeviceMemory(const void*) { return false; }
Status CopyDeviceToHost(void*, const void*, size_t) {
  return UnimplementedError("cairn was not built with CUDA");
}
Status CopyHostToDevice(void*, const void*, size_t) {
  return UnimplementedError("cairn was not built with CUDA");
}
std::optional<int64_t> AvailableDeviceMemory(const void*) { return std::nullopt; }
bool PinnedMemoryAvailable() { return false; }
void* AllocateHostBuffer(size_t n, bool) { return std::malloc(n == 0 ? 1 : n); }
void FreeHostBuffer(void* ptr, bool) { std::free(ptr); }
#endif

}  // namespace cairn::checkpoint
