#include "cairn/async_checkpointer.h"

#include <chrono>

#include "checkpoint/async_saver.h"
#include "checkpoint/coordination.h"
#include "checkpoint/step.h"

namespace cairn {

Result<std::unique_ptr<AsyncCheckpointer>> AsyncCheckpointer::Create(
    std::shared_ptr<Communicator> comm, CheckpointerOptions options) {
  CAIRN_ASSIGN_OR_RETURN(
      auto c, checkpoint::Coordinate(comm, options.multiprocessing,
                                     options.async_options.timeout_secs,
                                     "AsyncCheckpointer::Create"));
  auto coordination = std::make_shared<const checkpoint::Coordination>(std::move(c));
  CheckpointerOptions internal = checkpoint::InternalOptions(options, *coordination);
  // Every rank primary: each saves its own copy over a single-rank communicator; failures meet
  // again at the next collective call (Save, WaitUntilFinished, Restore, Close).
  auto saver = checkpoint::AsyncSaver::Create(coordination->storage, internal);
  CAIRN_RETURN_IF_ERROR(coordination->Agree(saver.status()));
  return std::unique_ptr<AsyncCheckpointer>(new AsyncCheckpointer(
      std::move(coordination), std::move(options), std::move(saver).value()));
}

AsyncCheckpointer::AsyncCheckpointer(std::shared_ptr<const checkpoint::Coordination> coordination,
                                     CheckpointerOptions options,
                                     std::unique_ptr<checkpoint::AsyncSaver> saver)
    : coord_(std::move(coordination)),
      options_(std::move(options)),
      internal_(checkpoint::InternalOptions(options_, *coord_)),
      saver_(std::move(saver)) {}

AsyncCheckpointer::~AsyncCheckpointer() { Close().IgnoreError(); }

Status AsyncCheckpointer::Save(const std::filesystem::path& directory, const CheckpointArgs& args,
                               const SaveOptions& options) {
  if (!saver_) return FailedPreconditionError("AsyncCheckpointer is closed");
  checkpoint::PhaseLabel label(*coord_->comm, coord_->Key("save." + directory.filename().string()));
  auto items = checkpoint::ResolveSaveItems(checkpoint::RegistryOf(options_.checkpointables), args);
  Status st = items.status();
  // Every rank primary: a failure of this rank's own background save is everyone's.
  if (st.ok() && coord_->every_rank_primary) st = saver_->TakeFailure();
  // The first point where ranks wait for each other: bounded by timeout_secs.
  CAIRN_RETURN_IF_ERROR(coord_->comm->AgreeWithin(
      st, "save of '" + directory.string() + "' [" + coord_->comm->phase() + "]",
      std::chrono::seconds(options_.async_options.timeout_secs), coord_->root));
  return coord_->Agree(saver_->Save(directory, std::move(items).value(), options));
}

Status AsyncCheckpointer::Restore(const std::filesystem::path& directory,
                                  const CheckpointArgs& args, const RestoreOptions& options) {
  if (!saver_) return FailedPreconditionError("AsyncCheckpointer is closed");
  checkpoint::PhaseLabel label(*coord_->comm,
                               coord_->Key("restore." + directory.filename().string()));
  CAIRN_RETURN_IF_ERROR(coord_->Agree(saver_->TakeFailure()));
  return coord_->Agree(
      checkpoint::RestoreStep(*coord_->storage, internal_, directory, args, options));
}

Status AsyncCheckpointer::WaitUntilFinished() {
  if (!saver_) return OkStatus();
  return coord_->Agree(saver_->WaitUntilFinished());
}

Status AsyncCheckpointer::CheckForErrors() const {
  return saver_ ? saver_->CheckForErrors() : OkStatus();
}

Status AsyncCheckpointer::Close() {
  if (!saver_) return OkStatus();
  Status st = coord_->Agree(saver_->TakeFailure());
  saver_.reset();
  return st;
}

Result<std::map<std::string, Tree>> AsyncCheckpointer::ItemMetadata(
    const std::filesystem::path& directory) const {
  return checkpoint::ReadStepItemMetadata(checkpoint::RegistryOf(options_.checkpointables),
                                          directory);
}

}  // namespace cairn
