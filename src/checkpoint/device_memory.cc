#include "checkpoint/device_memory.h"

#include "cairn_config.h"
#if CAIRN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace cairn::checkpoint {

Status CheckHostMemory(const void* ptr, const std::string& where) {
#if CAIRN_HAVE_CUDA
  cudaPointerAttributes attr{};
  cudaError_t err = cudaPointerGetAttributes(&attr, ptr);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error: no CUDA driver means plain host memory
    return OkStatus();
  }
  if (attr.type == cudaMemoryTypeDevice) {
    return InvalidArgumentError(where + ": the piece points at CUDA device memory (device " +
                                std::to_string(attr.device) +
                                "); device arrays are not supported by this version, copy to "
                                "host memory first");
  }
#else
  (void)ptr;
  (void)where;
#endif
  return OkStatus();
}

}  // namespace cairn::checkpoint
