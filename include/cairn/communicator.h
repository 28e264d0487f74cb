#pragma once
/// The communicator: the one door through which cairn talks to other ranks. An MPI
/// implementation (cairn/mpi.h) and a single-process one. Every collective is called by every
/// rank of the communicator in the same order.
///
/// Deadlines: with SetTimeout, every collective (Barrier, Broadcast, BroadcastBytes, AllGather,
/// AllToAll, AllReduce*, Duplicate, Subset) first checks that every rank has arrived, over
/// non-blocking point-to-point messages, and only then enters the real (non-blocking, polled) MPI
/// collective.
/// A rank that does not arrive within the timeout is named in a DeadlineExceeded on every rank
/// that did (and on itself when it arrives), and nobody enters the real collective, so the
/// communicator stays usable. If the real collective itself does not finish in time (a rank died
/// inside it), the call returns DeadlineExceeded and the communicator is broken: every later call
/// returns FailedPrecondition naming the phase it broke in.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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
  /// Copies root's `n` bytes at `data` into `data` on every rank (host memory; every rank passes
  /// the same `n`; sent in chunks below 2 GiB). InvalidArgument if `root` is out of range.
  virtual Status BroadcastBytes(void* data, size_t n, int root) = 0;
  /// Every rank receives every rank's bytes, indexed by rank.
  virtual Result<std::vector<std::string>> AllGather(std::string_view mine) = 0;
  /// Personalized exchange: `outgoing[r]` goes to rank r (outgoing.size() == size(), empty
  /// strings allowed); returns what each rank sent to this one, indexed by sender. Messages of
  /// any size (sent in rounds below 2 GiB). InvalidArgument, on the calling rank, if
  /// outgoing.size() != size().
  virtual Result<std::vector<std::string>> AllToAll(std::vector<std::string> outgoing) = 0;
  /// Element-wise min / max / sum over ranks of `values` (same length on every rank), in place.
  virtual Status AllReduceMin(std::vector<int64_t>& values) = 0;
  virtual Status AllReduceMax(std::vector<int64_t>& values) = 0;
  virtual Status AllReduceSum(std::vector<int64_t>& values) = 0;
  /// "MPI" or "self".
  virtual std::string_view kind() const = 0;

  /// Collective. A new communicator over the same ranks whose traffic never mixes with this
  /// one's (cairn's background saves run on one).
  virtual Result<std::shared_ptr<Communicator>> Duplicate() = 0;

  /// Collective over the listed ranks only (the others do not call it and may do anything
  /// meanwhile): a new communicator over `ranks`, whose rank i is this communicator's `ranks[i]`.
  /// Every listed rank passes the same list. InvalidArgument, on the calling rank, if the list is
  /// empty, names a rank out of range or twice, or does not contain the caller. Like Duplicate,
  /// the new communicator starts with this one's timeout and phase. With a timeout, the arrival
  /// check runs over the listed ranks; the group creation after it is a blocking MPI call.
  virtual Result<std::shared_ptr<Communicator>> Subset(const std::vector<int>& ranks) = 0;

  /// Deadline of every later collective of this communicator (see the top of this file); nullopt
  /// (the default) waits forever with plain blocking collectives. Local: every rank must set the
  /// same value before its next collective. The real collective after the arrival check gets
  /// `timeout` again for each non-blocking MPI operation it is made of.
  virtual void SetTimeout(std::optional<std::chrono::milliseconds> timeout) = 0;
  /// The name that deadline errors give the current phase, e.g. "model_a.cairn.42.commit" (empty,
  /// the default, reads "unnamed phase"). Local; does not change the collectives.
  virtual void SetPhase(std::string phase) = 0;
  /// The phase set by SetPhase ("" by default).
  virtual const std::string& phase() const = 0;

  /// Collective with a deadline: every rank passes its local outcome and, like AgreeOnStatus,
  /// every rank that takes part returns the same Status: OK, or the lowest failing rank's error
  /// prefixed "rank R: ". If some ranks do not arrive within `timeout`, the ranks that did return
  /// DeadlineExceeded naming `phase` and the missing ranks; a late rank, when it arrives, gets the
  /// same error. If `root` itself does not answer within `timeout` (+ a grace of a second), the
  /// others return DeadlineExceeded naming the root and tell it so; the root, when it arrives
  /// after they gave up, returns DeadlineExceeded naming itself. Built on non-blocking
  /// point-to-point messages to and from `root`, so nobody is left inside a blocking MPI call.
  /// FailedPrecondition if the communicator is broken (see SetTimeout).
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
/// "rank R: " (and "(also failed on N other ranks)"). If a collective inside misses its deadline
/// or finds the communicator broken, that DeadlineExceeded / FailedPrecondition is returned (the
/// same kind on every rank); if the communication fails otherwise the local error is returned.
Status AgreeOnStatus(Communicator& comm, const Status& local);

}  // namespace cairn
