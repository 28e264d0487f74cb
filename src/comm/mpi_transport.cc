// The MPI broadcast transport (host memory), the checks both transports share, and the NCCL
// transport's stand-in for builds without NCCL.
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cairn_config.h"
#include "comm/broadcast_transport.h"
#include "comm/mpi_native.h"

namespace cairn::comm {

namespace detail {

std::string ErrorPrefix(std::string_view transport, const Communicator& group) {
  return std::string(transport) + " transport (group rank " + std::to_string(group.rank()) +
         " of " + std::to_string(group.size()) + "): ";
}

Status CheckBroadcastArgs(std::string_view transport, const Communicator& group, const void* data,
                          size_t bytes, int root, size_t chunk_bytes) {
  if (chunk_bytes == 0) {
    return InvalidArgumentError(ErrorPrefix(transport, group) + "chunk_bytes must be > 0");
  }
  if (root < 0 || root >= group.size()) {
    return InvalidArgumentError(ErrorPrefix(transport, group) + "broadcast root " +
                                std::to_string(root) + " is not a rank of the group of " +
                                std::to_string(group.size()));
  }
  if (data == nullptr && bytes > 0) {
    return InvalidArgumentError(ErrorPrefix(transport, group) + "null buffer for " +
                                std::to_string(bytes) + " bytes");
  }
  return OkStatus();
}

Status AgreeBeforeBroadcast(std::string_view transport, Communicator& group, const Status& local,
                            size_t bytes, int root, size_t chunk_bytes) {
  // One min-reduction of the values and their negations gives every member the range of each.
  const auto b = static_cast<int64_t>(bytes);
  const auto c = static_cast<int64_t>(std::min<size_t>(chunk_bytes, INT64_MAX));
  std::vector<int64_t> v = {b, root, c, -b, -int64_t{root}, -c};
  Status st = group.AllReduceMin(v);
  if (!st.ok()) return st.WithContext(ErrorPrefix(transport, group) + "agreeing on the arguments");
  Status mine = local;
  const char* names[] = {"bytes", "root", "chunk_bytes"};
  for (int i = 0; i < 3 && mine.ok(); ++i) {
    if (v[i] != -v[i + 3]) {  // the same text on every member: it holds only reduced values
      mine = InvalidArgumentError(std::string(transport) + " transport: the " +
                                  std::to_string(group.size()) + " group members disagree on " +
                                  names[i] + " (from " + std::to_string(v[i]) + " to " +
                                  std::to_string(-v[i + 3]) + ")");
    }
  }
  return AgreeOnStatus(group, mine);
}

}  // namespace detail

namespace {

constexpr std::string_view kName = "mpi";
// MPI counts are ints: each call stays well below INT_MAX bytes.
constexpr size_t kMaxMpiCall = size_t{1} << 30;

Status MpiError(const Communicator& group, int rc, size_t offset, size_t len) {
  char msg[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(rc, msg, &n);
  return UnavailableError(detail::ErrorPrefix(kName, group) + "MPI_Bcast of " +
                          std::to_string(len) + " bytes at offset " + std::to_string(offset) +
                          " failed: " + std::string(msg, n));
}

class MpiTransport final : public BroadcastTransport {
 public:
  explicit MpiTransport(std::shared_ptr<Communicator> group)
      : group_(std::move(group)), native_(NativeMpiComm(*group_)) {}

  std::string_view name() const override { return kName; }
  size_t max_chunk_bytes() const override { return max_chunk_; }

  Status Broadcast(void* data, size_t bytes, int root, size_t chunk_bytes) override {
    Communicator& g = *group_;
    CAIRN_RETURN_IF_ERROR(detail::AgreeBeforeBroadcast(
        kName, g, detail::CheckBroadcastArgs(kName, g, data, bytes, root, chunk_bytes), bytes, root,
        chunk_bytes));
    if (bytes == 0) return OkStatus();
    const size_t step = std::min(chunk_bytes, kMaxMpiCall);
    if (native_ == MPI_COMM_NULL && g.size() == 1) return OkStatus();  // already in place
    auto* p = static_cast<char*>(data);
    // A member whose call fails keeps taking part in the remaining chunks, so the sequence of
    // collectives stays the same on every member; the outcome is agreed at the end.
    Status first_error;
    for (size_t off = 0; off < bytes; off += step) {
      const size_t len = std::min(step, bytes - off);
      max_chunk_ = std::max(max_chunk_, len);
      Status st = native_ != MPI_COMM_NULL ? BcastMpi(p + off, len, root, off)
                                           : BcastThroughCommunicator(p + off, len, root, off);
      if (first_error.ok() && !st.ok()) first_error = st;
    }
    return AgreeOnStatus(g, first_error);
  }

 private:
  Status BcastMpi(char* p, size_t len, int root, size_t off) {
    const int rc = MPI_Bcast(p, static_cast<int>(len), MPI_BYTE, root, native_);
    return rc == MPI_SUCCESS ? OkStatus() : MpiError(*group_, rc, off, len);
  }

  // Communicators other than MPI's (a test double, say): through Communicator::Broadcast.
  Status BcastThroughCommunicator(char* p, size_t len, int root, size_t off) {
    std::string chunk;
    if (group_->rank() == root) chunk.assign(p, len);
    Status st = group_->Broadcast(chunk, root);
    if (!st.ok()) {
      return st.WithContext(detail::ErrorPrefix(kName, *group_) + "broadcast of " +
                            std::to_string(len) + " bytes at offset " + std::to_string(off));
    }
    if (chunk.size() != len) {
      return InternalError(detail::ErrorPrefix(kName, *group_) + "received " +
                           std::to_string(chunk.size()) + " bytes at offset " +
                           std::to_string(off) + ", expected " + std::to_string(len));
    }
    if (group_->rank() != root) std::memcpy(p, chunk.data(), len);
    return OkStatus();
  }

  std::shared_ptr<Communicator> group_;
  MPI_Comm native_;
  size_t max_chunk_ = 0;
};

}  // namespace

Result<std::unique_ptr<BroadcastTransport>> MakeMpiTransport(std::shared_ptr<Communicator> group) {
  if (group == nullptr) return InvalidArgumentError("mpi transport: null group communicator");
  return std::unique_ptr<BroadcastTransport>(std::make_unique<MpiTransport>(std::move(group)));
}

#if !CAIRN_HAVE_NCCL
Result<std::unique_ptr<BroadcastTransport>> MakeNcclTransport(std::shared_ptr<Communicator>, int) {
  return UnavailableError("cairn was built without NCCL");
}
#endif

}  // namespace cairn::comm
