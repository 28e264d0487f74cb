#include <memory>
#include <string>
#include <vector>

#include "cairn/communicator.h"

namespace cairn {
namespace {

class SelfComm final : public Communicator {
 public:
  explicit SelfComm(std::string phase = "") : phase_(std::move(phase)) {}
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Status Barrier() override { return OkStatus(); }
  Status Broadcast(std::string&, int root) override {
    if (root != 0) {
      return InvalidArgumentError("broadcast root " + std::to_string(root) + " out of range");
    }
    return OkStatus();
  }
  Status BroadcastBytes(void*, size_t, int root) override {
    if (root != 0) {
      return InvalidArgumentError("broadcast root " + std::to_string(root) + " out of range");
    }
    return OkStatus();
  }
  Result<std::vector<std::string>> AllGather(std::string_view mine) override {
    return std::vector<std::string>{std::string(mine)};
  }
  Result<std::vector<std::string>> AllToAll(std::vector<std::string> outgoing) override {
    if (outgoing.size() != 1) {
      return InvalidArgumentError("alltoall: " + std::to_string(outgoing.size()) +
                                  " messages for 1 rank");
    }
    return outgoing;
  }
  Status AllReduceMin(std::vector<int64_t>&) override { return OkStatus(); }
  Status AllReduceMax(std::vector<int64_t>&) override { return OkStatus(); }
  Status AllReduceSum(std::vector<int64_t>&) override { return OkStatus(); }
  std::string_view kind() const override { return "self"; }
  Result<std::shared_ptr<Communicator>> Duplicate() override {
    return std::shared_ptr<Communicator>(std::make_shared<SelfComm>(phase_));
  }
  Result<std::shared_ptr<Communicator>> Subset(const std::vector<int>& ranks) override {
    if (ranks.size() != 1 || ranks[0] != 0) {
      std::string list;
      for (int r : ranks) list += (list.empty() ? "" : ", ") + std::to_string(r);
      return InvalidArgumentError("Subset: the single-process communicator has only rank 0; got (" +
                                  list + ")");
    }
    return std::shared_ptr<Communicator>(std::make_shared<SelfComm>(phase_));
  }
  // Nobody to wait for: the timeout changes nothing.
  void SetTimeout(std::optional<std::chrono::milliseconds>) override {}
  void SetPhase(std::string phase) override { phase_ = std::move(phase); }
  const std::string& phase() const override { return phase_; }
  Status AgreeWithin(const Status& local, std::string_view, std::chrono::milliseconds,
                     int root) override {
    if (root != 0) {
      return InvalidArgumentError("agreement root " + std::to_string(root) + " out of range");
    }
    return local;
  }
  bool SupportsConcurrentThreads() const override { return true; }

 private:
  std::string phase_;
};

}  // namespace

std::shared_ptr<Communicator> SelfCommunicator() { return std::make_shared<SelfComm>(); }

}  // namespace cairn
