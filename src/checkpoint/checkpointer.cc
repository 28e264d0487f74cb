#include "cairn/checkpointer.h"

#include "checkpoint/impl.h"
#include "checkpoint/step.h"

namespace cairn {

Result<Checkpointer> Checkpointer::Create(std::shared_ptr<Communicator> comm,
                                          CheckpointerOptions options) {
  if (!comm) return InvalidArgumentError("Checkpointer::Create: null communicator");
  const int primary = options.multiprocessing.primary_host;
  if (primary < 0 || primary >= comm->size()) {
    return InvalidArgumentError("MultiprocessingOptions.primary_host " + std::to_string(primary) +
                                " is not a rank of the communicator (size " +
                                std::to_string(comm->size()) + ")");
  }
  CAIRN_RETURN_IF_ERROR(CheckImplemented(options.multiprocessing));
  return Checkpointer(std::move(comm), std::move(options));
}

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
  return checkpoint::SaveStep(*comm_, options_, directory, step, options);
}

Status Checkpointer::Save(const std::filesystem::path& directory, const CheckpointArgs& args,
                          const SaveOptions& options) {
  auto items = checkpoint::ResolveSaveItems(checkpoint::RegistryOf(options_.checkpointables), args);
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*comm_, items.status()));
  return checkpoint::SaveStep(*comm_, options_, directory, *items, options);
}

Status Checkpointer::Restore(const std::filesystem::path& directory, const CheckpointArgs& args,
                             const RestoreOptions& options) {
  return checkpoint::RestoreStep(*comm_, options_, directory, args, options);
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
  const int primary = options_.multiprocessing.primary_host;
  std::vector<std::string> names;
  std::vector<checkpoint::TreeTarget> list;
  for (auto& [name, tree] : targets) {
    names.push_back(name);
    list.push_back({directory / name, name, &tree});
  }
  if (names.empty()) {
    return AgreeOnStatus(*comm_, InvalidArgumentError("nothing to restore: no items"));
  }
  CAIRN_RETURN_IF_ERROR(checkpoint::CheckStepItems(*comm_, primary, directory, names).status());
  return checkpoint::RestoreTreeItems(*comm_, primary, list, options, &options_.memory_options);
}

}  // namespace cairn
