#include "checkpoint/io_turns.h"

#include <condition_variable>
#include <map>
#include <mutex>

namespace cairn::checkpoint {
namespace {

struct Turns {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t next = 0;
  std::map<uint64_t, std::string> open;  // id -> what, for messages
};

Turns& Global() {
  static Turns* turns = new Turns;  // never destroyed: background threads may outlive statics
  return *turns;
}

}  // namespace

std::shared_ptr<IoTurn> IoTurn::Take(std::string what) {
  Turns& t = Global();
  std::lock_guard<std::mutex> lock(t.mu);
  const uint64_t id = t.next++;
  t.open.emplace(id, what);
  return std::shared_ptr<IoTurn>(new IoTurn(id, std::move(what)));
}

IoTurn::~IoTurn() { Release(); }

Status IoTurn::Wait(std::chrono::milliseconds timeout) {
  Turns& t = Global();
  std::unique_lock<std::mutex> lock(t.mu);
  const bool ready = t.cv.wait_for(lock, timeout, [&] { return t.open.begin()->first == id_; });
  if (ready) return OkStatus();
  return DeadlineExceededError(what_ + ": waited " +
                               std::to_string(timeout.count() / 1000) +
                               " s (timeout_secs) for the storage I/O of '" +
                               t.open.begin()->second +
                               "', started earlier in this process by another checkpointer");
}

void IoTurn::Release() {
  Turns& t = Global();
  {
    std::lock_guard<std::mutex> lock(t.mu);
    if (released_) return;
    released_ = true;
    t.open.erase(id_);
  }
  t.cv.notify_all();
}

}  // namespace cairn::checkpoint
