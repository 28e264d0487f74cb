#pragma once
/// The communicator: the one door through which cairn talks to other ranks. An MPI
/// implementation (cairn/mpi.h) and a single-process one. Every collective is called by every
/// rank of the communicator in the same order.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"

namespace cairn {

class Communicator {
 public:
  virtual ~Communicator() = default;
  /// This process's rank, 0 <= rank() < size().
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Blocks until every rank has arrived.
  virtual Status Barrier() = 0;
  /// Replaces `data` on every rank by root's `data`.
  virtual Status Broadcast(std::string& data, int root) = 0;
  /// Every rank receives every rank's bytes, indexed by rank.
  virtual Result<std::vector<std::string>> AllGather(std::string_view mine) = 0;
  /// Element-wise min / max / sum over ranks of `values` (same length on every rank), in place.
  virtual Status AllReduceMin(std::vector<int64_t>& values) = 0;
  virtual Status AllReduceMax(std::vector<int64_t>& values) = 0;
  virtual Status AllReduceSum(std::vector<int64_t>& values) = 0;
  /// "MPI" or "self".
  virtual std::string_view kind() const = 0;

  /// Collective. A new communicator over the same ranks whose traffic never mixes with this
  /// one's (cairn's background saves run on one).
  virtual Result<std::shared_ptr<Communicator>> Duplicate() = 0;

  /// Collective with a deadline: every rank passes its local outcome and, like AgreeOnStatus,
  /// every rank that takes part returns the same Status: OK, or the lowest failing rank's error
  /// prefixed "rank R: ". If some ranks do not arrive within `timeout`, the ranks that did return
  /// DeadlineExceeded naming `phase` and the missing ranks; a late rank, when it arrives, gets the
  /// same error. If `root` itself does not answer within `timeout` (+ a grace of a second), the
  /// others return DeadlineExceeded naming the root. Built on non-blocking point-to-point
  /// messages to and from `root`, so nobody is left inside a blocking MPI call.
  virtual Status AgreeWithin(const Status& local, std::string_view phase,
                             std::chrono::milliseconds timeout, int root) = 0;

  /// Whether collectives may be called from a thread other than the one that initialised MPI
  /// while the application keeps making MPI calls: MPI_THREAD_MULTIPLE for MPI, always true for
  /// the single-process communicator.
  virtual bool SupportsConcurrentThreads() const = 0;
};

/// A communicator of one rank (no MPI needed).
std::shared_ptr<Communicator> SelfCommunicator();

/// Collective: every rank passes its local outcome; every rank returns the same Status: OK if all
/// were OK, otherwise the error of the lowest failing rank, its message prefixed by
/// "rank R: " (and "(also failed on N other ranks)"). If the communication itself fails the
/// local error is returned.
Status AgreeOnStatus(Communicator& comm, const Status& local);

}  // namespace cairn
