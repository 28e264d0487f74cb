// The pieces of the handler interface that every handler shares: agreement with a deadline and
// the default (copy the arguments, save later) first half of an asynchronous save.
#include <chrono>
#include <memory>

#include "cairn/handler.h"

namespace cairn {

Status AgreeInContext(const HandlerContext& ctx, const Status& local, std::string_view phase) {
  // The barrier's name: "<prefix>cairn.<step>.<phase>", e.g. "model_a.cairn.42.commit".
  std::string key = ctx.barrier_key + ".";
  for (char c : phase) {
    if (c == ' ') key += '_';
    else if (c != '\'') key += c;
  }
  Status mine = local;
  if (ctx.barrier_sync_fn != nullptr && *ctx.barrier_sync_fn) {
    // The user's barrier comes first; its failure is this rank's outcome.
    Status b = (*ctx.barrier_sync_fn)(key, ctx.timeout_secs * 1000);
    if (mine.ok() && !b.ok()) mine = b.WithContext("barrier_sync_fn('" + key + "')");
  }
  // The collectives that follow, until the next agreement, carry this name in timeout errors.
  ctx.comm->SetPhase(key);
  return ctx.comm->AgreeWithin(mine, std::string(phase) + " [" + key + "]",
                               std::chrono::seconds(ctx.timeout_secs), ctx.primary_host);
}

namespace {

// Keeps the arguments (which hold their data by value) and saves them from the background.
class SaveLater final : public StagedSave {
 public:
  SaveLater(CheckpointHandler* handler, CheckpointArgs args)
      : handler_(handler), args_(std::move(args)) {}
  Status Write(const HandlerContext& ctx, const std::filesystem::path& directory) override {
    return handler_->Save(ctx, directory, args_);
  }

 private:
  CheckpointHandler* handler_;  // outlives the save (held by the step's items)
  CheckpointArgs args_;
};

}  // namespace

Result<std::unique_ptr<StagedSave>> CheckpointHandler::StageSave(const HandlerContext&,
                                                                 const CheckpointArgs& args) {
  return std::unique_ptr<StagedSave>(std::make_unique<SaveLater>(this, args));
}

}  // namespace cairn
