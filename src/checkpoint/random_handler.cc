// Placeholder: RandomEngineHandler and RandomKeyHandler (being written).
#include "cairn/args.h"
#include "checkpoint/builtin_handlers.h"

namespace cairn::checkpoint {
namespace {
class Unwritten : public CheckpointHandler {
 public:
  explicit Unwritten(std::string n) : n_(std::move(n)) {}
  std::string TypeName() const override { return n_; }
  Status Save(const HandlerContext& ctx, const std::filesystem::path&, const CheckpointArgs&) override {
    return AgreeOnStatus(*ctx.comm, UnimplementedError(n_));
  }
  Status Restore(const HandlerContext& ctx, const std::filesystem::path&, const CheckpointArgs&) override {
    return AgreeOnStatus(*ctx.comm, UnimplementedError(n_));
  }
  Result<Tree> Metadata(const std::filesystem::path&) const override { return UnimplementedError(n_); }
 private:
  std::string n_;
};
}  // namespace
std::shared_ptr<CheckpointHandler> RandomEngineHandler() {
  static auto h = std::make_shared<Unwritten>(kRandomEngineHandlerName);
  return h;
}
std::shared_ptr<CheckpointHandler> RandomKeyHandler() {
  static auto h = std::make_shared<Unwritten>(kRandomKeyHandlerName);
  return h;
}
}  // namespace cairn::checkpoint
