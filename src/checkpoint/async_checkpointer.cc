#include "cairn/async_checkpointer.h"

#include <chrono>

#include "checkpoint/async_saver.h"
#include "checkpoint/step.h"

namespace cairn {

Result<std::unique_ptr<AsyncCheckpointer>> AsyncCheckpointer::Create(
    std::shared_ptr<Communicator> comm, CheckpointerOptions options) {
  if (!comm) return InvalidArgumentError("AsyncCheckpointer::Create: null communicator");
  const int primary = options.multiprocessing.primary_host;
  Status st;
  if (primary < 0 || primary >= comm->size()) {
    st = InvalidArgumentError("MultiprocessingOptions.primary_host " + std::to_string(primary) +
                              " is not a rank of the communicator (size " +
                              std::to_string(comm->size()) + ")");
  }
  if (st.ok()) st = CheckImplemented(options.multiprocessing);
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*comm, st));
  CAIRN_ASSIGN_OR_RETURN(auto saver, checkpoint::AsyncSaver::Create(comm, options));
  return std::unique_ptr<AsyncCheckpointer>(
      new AsyncCheckpointer(std::move(comm), std::move(options), std::move(saver)));
}

AsyncCheckpointer::AsyncCheckpointer(std::shared_ptr<Communicator> comm,
                                     CheckpointerOptions options,
                                     std::unique_ptr<checkpoint::AsyncSaver> saver)
    : comm_(std::move(comm)), options_(std::move(options)), saver_(std::move(saver)) {}

AsyncCheckpointer::~AsyncCheckpointer() { Close().IgnoreError(); }

Status AsyncCheckpointer::Save(const std::filesystem::path& directory, const CheckpointArgs& args,
                               const SaveOptions& options) {
  if (!saver_) return FailedPreconditionError("AsyncCheckpointer is closed");
  auto items = checkpoint::ResolveSaveItems(checkpoint::RegistryOf(options_.checkpointables), args);
  // The first point where ranks wait for each other: bounded by timeout_secs.
  CAIRN_RETURN_IF_ERROR(comm_->AgreeWithin(items.status(), "save of '" + directory.string() + "'",
                                           std::chrono::seconds(options_.async_options.timeout_secs),
                                           options_.multiprocessing.primary_host));
  return saver_->Save(directory, std::move(items).value(), options);
}

Status AsyncCheckpointer::Restore(const std::filesystem::path& directory,
                                  const CheckpointArgs& args, const RestoreOptions& options) {
  if (!saver_) return FailedPreconditionError("AsyncCheckpointer is closed");
  CAIRN_RETURN_IF_ERROR(saver_->TakeFailure());
  return checkpoint::RestoreStep(*comm_, options_, directory, args, options);
}

Status AsyncCheckpointer::WaitUntilFinished() {
  return saver_ ? saver_->WaitUntilFinished() : OkStatus();
}

Status AsyncCheckpointer::CheckForErrors() const {
  return saver_ ? saver_->CheckForErrors() : OkStatus();
}

Status AsyncCheckpointer::Close() {
  if (!saver_) return OkStatus();
  Status st = saver_->TakeFailure();
  saver_.reset();
  return st;
}

Result<std::map<std::string, Tree>> AsyncCheckpointer::ItemMetadata(
    const std::filesystem::path& directory) const {
  return checkpoint::ReadStepItemMetadata(checkpoint::RegistryOf(options_.checkpointables),
                                          directory);
}

}  // namespace cairn
