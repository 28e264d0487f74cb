#pragma once
/// The synchronous checkpointer: saves a tree (or several named items) into a checkpoint
/// directory atomically, and restores it onto any number of ranks and any decomposition.
/// Every method is collective over the communicator and returns the same Status on every rank.

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "cairn/communicator.h"
#include "cairn/handler.h"
#include "cairn/metadata.h"
#include "cairn/options.h"
#include "cairn/tree.h"

namespace cairn {

namespace checkpoint {
struct Coordination;
}

/// Options fixed for the lifetime of a checkpointer.
struct CheckpointerOptions {
  MultiprocessingOptions multiprocessing;
  FileOptions file;
  /// Which handlers save and restore argument structs. Default: the global registry.
  CheckpointablesOptions checkpointables;
  /// Timeouts of agreement points; the async fields are used by AsyncCheckpointer.
  /// Default: AsyncOptions{} (1200 s).
  AsyncOptions async_options;
  /// Memory limits of saves and restores. Default: none.
  MemoryOptions memory_options;
};

/// Items of a checkpoint, by name. A single unnamed tree is the item "default".
using Items = std::map<std::string, Tree>;

class Checkpointer {
 public:
  /// Collective over the active ranks (MultiprocessingOptions.active_processes, by default every
  /// rank of `comm`): the checkpointer works over its own duplicate of `comm` (of the active
  /// ranks), every collective bounded by async_options.timeout_secs. InvalidArgument for a bad
  /// option (primary_host outside the communicator or the active ranks; a rank outside
  /// active_processes calling Create gets it at once).
  static Result<Checkpointer> Create(std::shared_ptr<Communicator> comm,
                                     CheckpointerOptions options = {});

  /// Saves `state` as item "default" of the checkpoint `directory` (which must not exist yet;
  /// its parent is created if needed). Data goes to `<directory>.cairn-tmp-<id>/` first; the
  /// directory appears under its name only once every rank has written and the primary has
  /// written `commit_success.txt`. AlreadyExists if `directory` is already a checkpoint;
  /// InvalidArgument for inconsistent trees/shapes/pieces (naming key path and rank).
  Status Save(const std::filesystem::path& directory, const Tree& state,
              const SaveOptions& options = {});
  /// Saves several named items (a subdirectory each).
  Status SaveItems(const std::filesystem::path& directory, const Items& items,
                   const SaveOptions& options = {});

  /// Saves items through their handlers: `args` is a Composite (one item per name) or a single
  /// argument struct (item "default"), e.g. `StandardSave{tree}`, `JsonSave{j}`. NotFound if no
  /// handler is registered for an argument type; otherwise as Save above.
  Status Save(const std::filesystem::path& directory, const CheckpointArgs& args,
              const SaveOptions& options = {});
  /// Restores items through their handlers: `args` is a Composite or a single restore argument
  /// struct (item "default"), e.g. `StandardRestore{&tree}`. NotFound for a missing item (listing
  /// the items the checkpoint has); FailedPrecondition if the item was saved by an incompatible
  /// handler.
  Status Restore(const std::filesystem::path& directory, const CheckpointArgs& args,
                 const RestoreOptions& options = {});
  /// Every item's metadata (dtypes and shapes, no array data), read on this rank only.
  Result<std::map<std::string, Tree>> ItemMetadata(const std::filesystem::path& directory) const;

  /// Restores item "default" into `target`: array leaves are filled piece by piece (any
  /// decomposition), scalar/string/JSON leaves are replaced by the stored values.
  Result<RestoreReport> Restore(const std::filesystem::path& directory, Tree& target,
                                const RestoreOptions& options = {});
  /// Restores the named items of `targets` (each must exist in the checkpoint).
  Result<RestoreReport> RestoreItems(const std::filesystem::path& directory, Items& targets,
                                     const RestoreOptions& options = {});

  /// The checkpointer's own communicator (of the active ranks).
  Communicator& comm() const;
  const CheckpointerOptions& options() const { return options_; }

 private:
  Checkpointer(std::shared_ptr<const checkpoint::Coordination> coordination,
               CheckpointerOptions options);
  std::shared_ptr<const checkpoint::Coordination> coord_;
  CheckpointerOptions options_;
  CheckpointerOptions internal_;  // primary_host resolved for the storage communicator
};

}  // namespace cairn
