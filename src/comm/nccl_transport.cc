// The NCCL broadcast transport (CUDA device memory). Compiled only when NCCL is found; the only
// file that includes nccl.h. The NCCL communicator is bootstrapped through the group's
// Communicator (the unique id travels in a Communicator::Broadcast).
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "comm/broadcast_transport.h"

namespace cairn::comm {
namespace {

constexpr std::string_view kName = "nccl";

std::string CudaText(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
}

// Makes `device` current for the scope and restores the caller's device afterwards, so the
// transport does not change which device the application's later CUDA calls go to.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    status_ = cudaSetDevice(device);
  }
  ~DeviceScope() {
    if (previous_ >= 0) cudaSetDevice(previous_);
  }
  cudaError_t status() const { return status_; }

 private:
  int previous_ = -1;
  cudaError_t status_ = cudaSuccess;
};

class NcclTransport final : public BroadcastTransport {
 public:
  NcclTransport(std::shared_ptr<Communicator> group, int device, cudaStream_t stream,
                ncclComm_t comm)
      : group_(std::move(group)), device_(device), stream_(stream), comm_(comm) {}
  ~NcclTransport() override {
    DeviceScope scope(device_);
    // A communicator whose operations failed may never finish them: abort instead of waiting.
    if (broken_) {
      ncclCommAbort(comm_);
    } else {
      ncclCommDestroy(comm_);
    }
    cudaStreamDestroy(stream_);
  }

  std::string_view name() const override { return kName; }
  size_t max_chunk_bytes() const override { return max_chunk_; }

  Status Broadcast(void* data, size_t bytes, int root, size_t chunk_bytes) override {
    Communicator& g = *group_;
    Status local = detail::CheckBroadcastArgs(kName, g, data, bytes, root, chunk_bytes);
    if (local.ok() && bytes > 0) local = CheckDeviceBuffer(data);
    CAIRN_RETURN_IF_ERROR(detail::AgreeBeforeBroadcast(kName, g, local, bytes, root, chunk_bytes));
    if (bytes == 0) return OkStatus();
    DeviceScope scope(device_);
    auto* p = static_cast<char*>(data);
    // Every member issues every chunk even after an error, so no peer waits for a chunk that
    // never comes; the outcome is agreed at the end.
    Status first_error;
    if (scope.status() != cudaSuccess) {
      first_error = Error("cudaSetDevice(" + std::to_string(device_) + ")", scope.status());
    }
    for (size_t off = 0; off < bytes; off += chunk_bytes) {
      const size_t len = std::min(chunk_bytes, bytes - off);
      max_chunk_ = std::max(max_chunk_, len);
      const ncclResult_t rc = ncclBroadcast(p + off, p + off, len, ncclUint8, root, comm_, stream_);
      if (rc != ncclSuccess && first_error.ok()) {
        first_error = NcclError(
            "ncclBroadcast of " + std::to_string(len) + " bytes at offset " + std::to_string(off),
            rc);
      }
    }
    const cudaError_t sync = cudaStreamSynchronize(stream_);
    if (sync != cudaSuccess && first_error.ok()) {
      first_error = Error("cudaStreamSynchronize after the broadcast", sync);
    }
    ncclResult_t async_rc = ncclSuccess;
    if (ncclCommGetAsyncError(comm_, &async_rc) == ncclSuccess && async_rc != ncclSuccess &&
        first_error.ok()) {
      first_error = NcclError("the broadcast (asynchronous error)", async_rc);
    }
    if (!first_error.ok()) broken_ = true;
    return AgreeOnStatus(g, first_error);
  }

 private:
  Status CheckDeviceBuffer(const void* data) const {
    cudaPointerAttributes attr{};
    const cudaError_t err = cudaPointerGetAttributes(&attr, data);
    if (err != cudaSuccess) {
      cudaGetLastError();
      return InvalidArgumentError(detail::ErrorPrefix(kName, *group_) +
                                  "cannot tell where the buffer lives: " + CudaText(err));
    }
    if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged) {
      return InvalidArgumentError(detail::ErrorPrefix(kName, *group_) +
                                  "the buffer is host memory; the nccl transport moves CUDA "
                                  "device memory (use the mpi transport for host memory)");
    }
    if (attr.type == cudaMemoryTypeDevice && attr.device != device_) {
      return InvalidArgumentError(
          detail::ErrorPrefix(kName, *group_) + "the buffer is memory of CUDA device " +
          std::to_string(attr.device) + ", the transport's device is " + std::to_string(device_));
    }
    return OkStatus();
  }
  Status Error(const std::string& what, cudaError_t err) const {
    return InternalError(detail::ErrorPrefix(kName, *group_) + what + " failed: " + CudaText(err));
  }
  Status NcclError(const std::string& what, ncclResult_t rc) const {
    std::string text =
        detail::ErrorPrefix(kName, *group_) + what + " failed: " + ncclGetErrorString(rc);
    if (const char* last = ncclGetLastError(comm_); last != nullptr && *last != '\0') {
      text += std::string(" (") + last + ")";
    }
    return InternalError(std::move(text));
  }

  std::shared_ptr<Communicator> group_;
  int device_;
  cudaStream_t stream_;
  ncclComm_t comm_;
  size_t max_chunk_ = 0;
  bool broken_ = false;
};

// This member's device (validated) and a stream on it. On error nothing is left allocated.
Status PrepareDevice(const Communicator& group, int requested, int* device, cudaStream_t* stream) {
  const std::string prefix = detail::ErrorPrefix(kName, group);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    cudaGetLastError();  // not sticky: leave no error behind for the application
    return FailedPreconditionError(prefix + "no CUDA device" +
                                   (err != cudaSuccess
                                        ? " (cudaGetDeviceCount: " + CudaText(err) + ")"
                                        : " (cudaGetDeviceCount found 0)"));
  }
  if (requested >= count) {
    return InvalidArgumentError(prefix + "CUDA device " + std::to_string(requested) +
                                " requested, this process sees " + std::to_string(count));
  }
  if (requested >= 0) {
    *device = requested;
  } else if ((err = cudaGetDevice(device)) != cudaSuccess) {
    return InternalError(prefix + "cudaGetDevice failed: " + CudaText(err));
  }
  DeviceScope scope(*device);
  if (scope.status() != cudaSuccess) {
    return InternalError(prefix + "cudaSetDevice(" + std::to_string(*device) +
                         ") failed: " + CudaText(scope.status()));
  }
  // A blocking stream: ordered after the work queued on the legacy default stream.
  if ((err = cudaStreamCreate(stream)) != cudaSuccess) {
    return InternalError(prefix + "cudaStreamCreate on device " + std::to_string(*device) +
                         " failed: " + CudaText(err));
  }
  return OkStatus();
}

}  // namespace

Result<std::unique_ptr<BroadcastTransport>> MakeNcclTransport(std::shared_ptr<Communicator> group,
                                                              int device) {
  if (group == nullptr) return InvalidArgumentError("nccl transport: null group communicator");
  Communicator& g = *group;
  const std::string prefix = detail::ErrorPrefix(kName, g);
  cudaStream_t stream = nullptr;
  int dev = -1;
  // Phase 1: every member has a device and a stream, and rank 0 an id.
  Status local = PrepareDevice(g, device, &dev, &stream);
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  if (local.ok() && g.rank() == 0) {
    if (ncclResult_t rc = ncclGetUniqueId(&id); rc != ncclSuccess) {
      local = InternalError(prefix + "ncclGetUniqueId failed: " + ncclGetErrorString(rc));
    }
  }
  auto release_stream = [&] {
    if (stream != nullptr) {
      DeviceScope scope(dev);
      cudaStreamDestroy(stream);
    }
  };
  if (Status st = AgreeOnStatus(g, local); !st.ok()) {
    release_stream();
    return st;
  }
  // Phase 2: the id reaches every member.
  std::string wire(reinterpret_cast<const char*>(&id), sizeof(id));
  local = g.Broadcast(wire, 0);
  if (local.ok() && wire.size() != sizeof(id)) {
    local = InternalError(prefix + "received an NCCL unique id of " + std::to_string(wire.size()) +
                          " bytes, expected " + std::to_string(sizeof(id)));
  }
  if (local.ok()) std::memcpy(&id, wire.data(), sizeof(id));
  if (Status st = AgreeOnStatus(g, local); !st.ok()) {
    release_stream();
    return st;
  }
  // Phase 3: every member is ready, so all of them enter ncclCommInitRank.
  ncclComm_t comm = nullptr;
  {
    DeviceScope scope(dev);
    if (ncclResult_t rc = ncclCommInitRank(&comm, g.size(), id, g.rank()); rc != ncclSuccess) {
      const char* last = ncclGetLastError(nullptr);
      local = InternalError(
          prefix + "ncclCommInitRank on CUDA device " + std::to_string(dev) +
          " failed: " + ncclGetErrorString(rc) +
          (last != nullptr && *last != '\0' ? std::string(" (") + last + ")" : std::string()));
      comm = nullptr;
    }
  }
  if (Status st = AgreeOnStatus(g, local); !st.ok()) {
    if (comm != nullptr) {
      DeviceScope scope(dev);
      ncclCommAbort(comm);  // peers failed: nothing will ever run on it
    }
    release_stream();
    return st;
  }
  return std::unique_ptr<BroadcastTransport>(
      std::make_unique<NcclTransport>(std::move(group), dev, stream, comm));
}

}  // namespace cairn::comm
