#pragma once
// The save and restore procedures behind Checkpointer, the handlers and the manager (internal).

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cairn/checkpointer.h"
#include "cairn/handler.h"

namespace cairn::checkpoint {

/// The name stored in `_CHECKPOINT_METADATA.item_handlers` for tree items.
inline constexpr char kTreeHandlerName[] = "cairn.PyTreeHandler";

/// InvalidArgument unless `name` can name an item directory.
Status ValidateItemName(const std::string& name);

/// One item of a step: its name, the handler that saves it and the handler's arguments.
struct StepItem {
  std::string name;
  std::shared_ptr<CheckpointHandler> handler;
  const CheckpointArgs* args = nullptr;
};

/// Collective. Saves a step atomically: the primary creates `<directory>.cairn-tmp-<id>/` with
/// one subdirectory per item, every handler writes its item, the primary writes
/// `_CHECKPOINT_METADATA` (item handlers, options.metrics, options.custom_metadata, timestamps)
/// and commits. The same Status on every rank.
Status SaveStep(Communicator& comm, const CheckpointerOptions& opts,
                const std::filesystem::path& directory, const std::vector<StepItem>& items,
                const SaveOptions& options);

/// Collective, on the calling thread: the first half of saving `tree` (see
/// CheckpointHandler::StageSave). `async`: copy the caller's boxes into ctx.staging within the
/// budget (MemoryOptions), defer the rest; otherwise read the caller's memory at write time.
Result<std::unique_ptr<StagedSave>> StageTreeItem(const HandlerContext& ctx,
                                                  const std::string& label, const Tree& tree,
                                                  const SaveOptions& options, bool async);

/// The bytes of staging and packing buffers a save may hold at once: write_concurrent_bytes (and,
/// for an async save, transfer_concurrent_bytes), less a share left for compression buffers.
std::optional<int64_t> StagingBudget(const MemoryOptions& memory, const SaveOptions& options,
                                     bool async);

/// The handler context of one step save (timeouts, barrier keys, memory limits, staging).
HandlerContext StepContext(Communicator& comm, const CheckpointerOptions& opts,
                           const std::filesystem::path& directory, const SaveOptions& options,
                           nlohmann::json* perf, StagingArena* arena);
/// Local: the step's own arguments (items, directory).
Status CheckStepArgs(const std::filesystem::path& directory, const std::vector<StepItem>& items);
/// Collective: the primary creates `<directory>.cairn-tmp-<id>/` with a folder per item; every
/// rank receives its path.
Result<std::filesystem::path> CreateStepDirectory(const HandlerContext& ctx,
                                                  const std::filesystem::path& directory,
                                                  const std::vector<StepItem>& items);
/// Collective: the primary writes `_CHECKPOINT_METADATA` (with ctx.performance_metrics) and
/// commits; on failure the temporary directory is removed.
Status CommitStep(const HandlerContext& ctx, const std::filesystem::path& directory,
                  const std::filesystem::path& tmp_dir, const std::vector<StepItem>& items,
                  int64_t init_ts);
/// Adds the arena's peak bytes (and limit) to `perf`.
void RecordStaging(const StagingArena& arena, nlohmann::json* perf);

/// Collective. Writes `tree` into the existing directory `item_dir` (data and `_METADATA`).
/// `label` names the item in errors.
Status SaveTreeItem(const HandlerContext& ctx, const std::filesystem::path& item_dir,
                    const std::string& label, const Tree& tree, const SaveOptions& options);

/// One tree item to restore: its directory, its name in messages and its target.
struct TreeTarget {
  std::filesystem::path item_dir;
  std::string label;
  Tree* tree = nullptr;
};

/// Collective. Restores tree items (each directory holds a `_METADATA`).
Result<RestoreReport> RestoreTreeItems(Communicator& comm, int primary,
                                       const std::vector<TreeTarget>& targets,
                                       const RestoreOptions& options,
                                       const MemoryOptions* memory = nullptr,
                                       int timeout_secs = 1200);

/// Internal argument types: a tree by reference (Checkpointer::SaveItems / RestoreItems).
struct TreeSaveRef {
  const Tree* item = nullptr;
};
struct TreeRestoreRef {
  Tree* item = nullptr;
  RestoreReport* report = nullptr;
};

/// The handler that saves and restores trees (for Checkpointer::SaveItems/RestoreItems).
std::shared_ptr<CheckpointHandler> TreeHandler();

}  // namespace cairn::checkpoint
