#pragma once
// The save and restore procedures behind Checkpointer (internal).

#include <filesystem>

#include "cairn/checkpointer.h"

namespace cairn::checkpoint {

Status SaveItemsImpl(Communicator& comm, const CheckpointerOptions& opts,
                     const std::filesystem::path& directory, const Items& items,
                     const SaveOptions& options);

Result<RestoreReport> RestoreItemsImpl(Communicator& comm, const CheckpointerOptions& opts,
                                       const std::filesystem::path& directory, Items& targets,
                                       const RestoreOptions& options);

/// The name stored in `_CHECKPOINT_METADATA.item_handlers` for tree items.
inline constexpr char kTreeHandlerName[] = "cairn.PyTreeHandler";

}  // namespace cairn::checkpoint
