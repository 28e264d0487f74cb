#pragma once
// One process may run several checkpointers or managers at once (barrier_sync_key_prefix), each
// over its own communicator, and their background threads may enter collective file I/O at the
// same time. Parallel HDF5 serialises every call behind one process-wide lock, so rank 0 could
// hold the lock inside manager A's collective write while rank 1 holds it inside manager B's:
// both would wait forever. Turns prevent that: each save's or restore's storage I/O takes a turn
// on the thread that calls Save/Restore, in call order, and runs only once every earlier turn of
// the process is released. Ranks call the managers' Save/Restore in the same order (they are
// collective), so every rank runs the I/O of the different managers in the same order.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "cairn/status.h"

namespace cairn::checkpoint {

class IoTurn {
 public:
  /// A new turn, after every turn taken before it in this process.
  static std::shared_ptr<IoTurn> Take(std::string what);
  ~IoTurn();
  IoTurn(const IoTurn&) = delete;
  IoTurn& operator=(const IoTurn&) = delete;

  /// Blocks until every earlier turn is released. DeadlineExceeded (naming the turn waited for)
  /// after `timeout`.
  Status Wait(std::chrono::milliseconds timeout);
  /// Lets later turns run. Idempotent; the destructor releases too.
  void Release();

 private:
  IoTurn(uint64_t id, std::string what) : id_(id), what_(std::move(what)) {}
  uint64_t id_;
  std::string what_;
  bool released_ = false;
};

}  // namespace cairn::checkpoint
