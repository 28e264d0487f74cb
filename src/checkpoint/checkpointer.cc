#include "cairn/checkpointer.h"

#include "checkpoint/impl.h"

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
  return Checkpointer(std::move(comm), std::move(options));
}

Status Checkpointer::Save(const std::filesystem::path& directory, const Tree& state,
                          const SaveOptions& options) {
  Items items;
  items.emplace("default", state);
  return SaveItems(directory, items, options);
}

Status Checkpointer::SaveItems(const std::filesystem::path& directory, const Items& items,
                               const SaveOptions& options) {
  return checkpoint::SaveItemsImpl(*comm_, options_, directory, items, options);
}

Result<RestoreReport> Checkpointer::Restore(const std::filesystem::path& directory, Tree& target,
                                            const RestoreOptions& options) {
  Items items;
  items.emplace("default", std::move(target));
  auto result = RestoreItems(directory, items, options);
  target = std::move(items.at("default"));
  return result;
}

Result<RestoreReport> Checkpointer::RestoreItems(const std::filesystem::path& directory,
                                                 Items& targets, const RestoreOptions& options) {
  return checkpoint::RestoreItemsImpl(*comm_, options_, directory, targets, options);
}

}  // namespace cairn
