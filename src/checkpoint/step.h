#pragma once
// Steps made of items, saved and restored through handlers (internal).

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cairn/checkpointer.h"
#include "cairn/handler.h"
#include "checkpoint/impl.h"

namespace cairn::checkpoint {

/// The item name of a step saved from a single (non-Composite) argument.
inline constexpr char kDefaultItem[] = "default";

/// The registry of `options`, or the global one.
const HandlerRegistry& RegistryOf(const CheckpointablesOptions& options);

/// A Composite's items, or {"default", args}.
std::vector<std::pair<std::string, const CheckpointArgs*>> SplitItems(const CheckpointArgs& args);

/// Local. The handler of each item of `args` (NotFound naming the item and argument type).
Result<std::vector<StepItem>> ResolveSaveItems(const HandlerRegistry& registry,
                                               const CheckpointArgs& args);

/// Collective. Checks on the primary that `directory` is a committed checkpoint holding every
/// item of `names` (NotFound listing the items it has); returns `item_handlers` on every rank.
Result<nlohmann::json> CheckStepItems(Communicator& comm, int primary,
                                      const std::filesystem::path& directory,
                                      const std::vector<std::string>& names);

/// Collective. Restores the items of `args` from the committed checkpoint `directory`.
Status RestoreStep(Communicator& comm, const CheckpointerOptions& opts,
                   const std::filesystem::path& directory, const CheckpointArgs& args,
                   const RestoreOptions& options);

/// Local. Every item's metadata tree, each read by the handler recorded for it.
Result<std::map<std::string, Tree>> ReadStepItemMetadata(const HandlerRegistry& registry,
                                                         const std::filesystem::path& directory);

}  // namespace cairn::checkpoint
