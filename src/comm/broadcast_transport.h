#pragma once
// Transports for load-and-broadcast: one member of a replica group reads a piece from storage,
// the transport hands its bytes to the other members. Two implementations behind one interface:
// MPI_Bcast for host memory (mpi_transport.cc) and ncclBroadcast for CUDA device memory
// (nccl_transport.cc, compiled only when NCCL is found; otherwise MakeNcclTransport answers
// Unavailable). Only nccl_transport.cc includes nccl.h.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "cairn/communicator.h"
#include "cairn/status.h"

namespace cairn::comm {

/// Broadcast of raw bytes within one group of ranks (a replica group). Not thread-safe: a
/// transport's calls are collectives on its group, ordered like the group's other collectives.
class BroadcastTransport {
 public:
  virtual ~BroadcastTransport() = default;

  /// "mpi" or "nccl".
  virtual std::string_view name() const = 0;

  /// Collective over the group: `bytes` bytes at root's `data` land in every member's `data`,
  /// moved in calls of at most `chunk_bytes` each (the broadcast memory limit; the MPI transport
  /// also keeps each call below 1 GiB). Host memory for mpi, CUDA device memory for nccl.
  /// Before any data moves the members check their arguments together (an agreement over the
  /// group), so every member returns the same Status: OK; InvalidArgument when `chunk_bytes` is 0,
  /// `root` is not a group rank, `data` is null (or, for nccl, not device memory of the
  /// transport's device) while `bytes` > 0, or the members disagree on `bytes`, `root` or
  /// `chunk_bytes`; the transport's own error (Unavailable for MPI, Internal for NCCL/CUDA) when
  /// a call fails while moving the data. Messages name the transport and the group rank
  /// ("mpi transport, group rank 1 of 4: ..."). `bytes` == 0 moves nothing and returns OK.
  [[nodiscard]] virtual Status Broadcast(void* data, size_t bytes, int root,
                                         size_t chunk_bytes) = 0;

  /// Largest single call made so far (bytes), for tests of the memory limit; 0 before the first.
  virtual size_t max_chunk_bytes() const = 0;
};

/// MPI transport over `group` (a Communicator of the group's ranks, e.g. MpiCommunicator of an
/// MPI_Comm_split): MPI_Bcast on the communicator behind it. Over the single-process communicator
/// a broadcast is a no-op (the bytes are already in place). Over another kind of communicator of
/// several ranks the chunks travel through Communicator::Broadcast (one extra copy each).
/// Not collective. InvalidArgument when `group` is null.
Result<std::unique_ptr<BroadcastTransport>> MakeMpiTransport(std::shared_ptr<Communicator> group);

/// NCCL transport over the same group, for CUDA device memory. Collective over `group`: group
/// rank 0 creates the ncclUniqueId and sends it with group->Broadcast, every member calls
/// ncclCommInitRank on its current CUDA device (or `device` when >= 0, default -1) with a CUDA
/// stream of its own. Broadcast issues ncclBroadcast per chunk on that stream (which is ordered
/// after work on the legacy default stream) and waits for it. The members agree on the outcome of
/// each step, so every member returns the same Status and none is left waiting in
/// ncclCommInitRank: Unavailable("cairn was built without NCCL") in a build without NCCL;
/// FailedPrecondition naming the reason when a member has no CUDA device (or no usable driver);
/// InvalidArgument when `group` is null or `device` is not a device of that member; Internal
/// naming the failing CUDA/NCCL call otherwise.
Result<std::unique_ptr<BroadcastTransport>> MakeNcclTransport(std::shared_ptr<Communicator> group,
                                                              int device = -1);

namespace detail {
// Shared by the two transports (defined in mpi_transport.cc).

/// "<transport> transport (group rank R of N): ", the prefix of a member's own errors.
std::string ErrorPrefix(std::string_view transport, const Communicator& group);

/// The argument checks common to both transports (chunk_bytes > 0, root a group rank, data
/// non-null when bytes > 0), local to this member; InvalidArgument with ErrorPrefix.
Status CheckBroadcastArgs(std::string_view transport, const Communicator& group, const void* data,
                          size_t bytes, int root, size_t chunk_bytes);

/// Collective over `group` before any data moves: the members compare `bytes`, `root` and
/// `chunk_bytes` (InvalidArgument when they differ) and agree (AgreeOnStatus) on `local`, so
/// either every member goes on to move the data or every member returns the same error.
Status AgreeBeforeBroadcast(std::string_view transport, Communicator& group, const Status& local,
                            size_t bytes, int root, size_t chunk_bytes);

}  // namespace detail
}  // namespace cairn::comm
