#include "cairn/checkpointer.h"

#include "checkpoint/coordination.h"
#include "checkpoint/impl.h"
#include "checkpoint/step.h"
#include "coord/commit.h"

namespace cairn {

Result<Checkpointer> Checkpointer::Create(std::shared_ptr<Communicator> comm,
                                          CheckpointerOptions options) {
  CAIRN_ASSIGN_OR_RETURN(
      auto c, checkpoint::Coordinate(comm, options.multiprocessing,
                                     options.async_options.timeout_secs, "Checkpointer::Create"));
  return Checkpointer(std::make_shared<const checkpoint::Coordination>(std::move(c)),
                      std::move(options));
}

Checkpointer::Checkpointer(std::shared_ptr<const checkpoint::Coordination> coordination,
                           CheckpointerOptions options)
    : coord_(std::move(coordination)),
      options_(std::move(options)),
      internal_(checkpoint::InternalOptions(options_, *coord_)) {}

Communicator& Checkpointer::comm() const { return *coord_->comm; }

Status Checkpointer::Save(const std::filesystem::path& directory, const Tree& state,
                          const SaveOptions& options) {
  return SaveItems(directory, Items{{checkpoint::kDefaultItem, state}}, options);
}

Status Checkpointer::SaveItems(const std::filesystem::path& directory, const Items& items,
                               const SaveOptions& options) {
  std::vector<CheckpointArgs> args;
  args.reserve(items.size());
  std::vector<checkpoint::StepItem> step;
  for (const auto& [name, tree] : items) {
    args.emplace_back(checkpoint::TreeSaveRef{&tree});
    step.push_back({name, checkpoint::TreeHandler(), &args.back()});
  }
  checkpoint::PhaseLabel label(*coord_->comm, coord_->Key("save." + directory.filename().string()));
  return coord_->Agree(
      checkpoint::SaveStep(*coord_->storage, internal_, directory, step, options));
}

Status Checkpointer::Save(const std::filesystem::path& directory, const CheckpointArgs& args,
                          const SaveOptions& options) {
  checkpoint::PhaseLabel label(*coord_->comm, coord_->Key("save." + directory.filename().string()));
  auto items = checkpoint::ResolveSaveItems(checkpoint::RegistryOf(options_.checkpointables), args);
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*coord_->comm, items.status()));
  return coord_->Agree(
      checkpoint::SaveStep(*coord_->storage, internal_, directory, *items, options));
}

Status Checkpointer::Restore(const std::filesystem::path& directory, const CheckpointArgs& args,
                             const RestoreOptions& options) {
  checkpoint::PhaseLabel label(*coord_->comm,
                               coord_->Key("restore." + directory.filename().string()));
  return coord_->Agree(
      checkpoint::RestoreStep(*coord_->storage, internal_, directory, args, options));
}

Result<std::map<std::string, Tree>> Checkpointer::ItemMetadata(
    const std::filesystem::path& directory) const {
  return checkpoint::ReadStepItemMetadata(checkpoint::RegistryOf(options_.checkpointables),
                                          directory);
}

Result<RestoreReport> Checkpointer::Restore(const std::filesystem::path& directory, Tree& target,
                                            const RestoreOptions& options) {
  Items items;
  items.emplace(checkpoint::kDefaultItem, std::move(target));
  auto result = RestoreItems(directory, items, options);
  target = std::move(items.at(checkpoint::kDefaultItem));
  return result;
}

Result<RestoreReport> Checkpointer::RestoreItems(const std::filesystem::path& directory,
                                                 Items& targets, const RestoreOptions& options) {
  checkpoint::PhaseLabel label(*coord_->comm,
                               coord_->Key("restore." + directory.filename().string()));
  const int primary = *internal_.multiprocessing.primary_host;
  Communicator& comm = *coord_->storage;
  std::vector<std::string> names;
  std::vector<checkpoint::TreeTarget> list;
  for (auto& [name, tree] : targets) {
    names.push_back(name);
    list.push_back({coord::ItemDirectory(directory, name), name, &tree});
  }
  if (names.empty()) {
    return AgreeOnStatus(*coord_->comm, InvalidArgumentError("nothing to restore: no items"));
  }
  Status st = checkpoint::CheckStepItems(comm, primary, directory, names).status();
  CAIRN_RETURN_IF_ERROR(coord_->Agree(st));
  auto report =
      checkpoint::RestoreTreeItems(comm, primary, list, options, &options_.memory_options,
                                   options_.async_options.timeout_secs);
  CAIRN_RETURN_IF_ERROR(coord_->Agree(report.status()));
  return report;
}

}  // namespace cairn
