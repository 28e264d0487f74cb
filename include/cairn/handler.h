#pragma once
/// Checkpoint handlers and their argument types (Orbax `CheckpointHandler`, `CheckpointArgs`,
/// `register_with_handler`, `get_registered_handler_cls`, `get_registered_args_cls`).
///
/// A handler saves one item of a checkpoint into its own directory `<step>/<item>/` and restores
/// it. Which handler runs is decided by the C++ type of the argument struct the caller passes
/// (`StandardSave`, `JsonRestore`, a user's own struct...), looked up in a HandlerRegistry: the
/// global one, or one given per manager/checkpointer in CheckpointablesOptions.
///
///   struct MyStateSave { MyState item; };
///   struct MyStateRestore { MyState* item; };
///   cairn::RegisterWithHandler<MyStateSave>(std::make_shared<MyStateHandler>(), {.for_save =
///   true}); cairn::RegisterWithHandler<MyStateRestore>(handler, {.for_restore = true});
///   manager.Save(step, cairn::Composite{{"state", StandardSave{tree}}, {"mine", MyStateSave{s}}});

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <typeindex>
#include <utility>
#include <vector>

#include "cairn/communicator.h"
#include "cairn/options.h"
#include "cairn/status.h"
#include "cairn/tree.h"

namespace cairn {

/// The readable (demangled) name of a C++ type, e.g. "cairn::JsonSave".
std::string DemangledTypeName(std::type_index type);

class CheckpointArgs;
class StagingArena;  // (internal) staging buffers
/// False for types that are data rather than argument structs (Tree, Items, JSON), so that
/// `Save(dir, tree)` cannot silently wrap them: wrap them in StandardSave / JsonSave instead.
template <typename T>
constexpr bool IsArgumentType() {
  return !std::is_same_v<T, CheckpointArgs> && !std::is_same_v<T, Tree> &&
         !std::is_same_v<T, std::map<std::string, Tree>> && !std::is_same_v<T, nlohmann::json> &&
         !std::is_same_v<T, DistributedArray> && !std::is_pointer_v<T> &&
         !std::is_arithmetic_v<T> && !std::is_same_v<T, std::string>;
}

/// A type-erased argument struct (Orbax `CheckpointArgs`): holds a copy of any value. Save
/// arguments hold the data to save (by value); restore arguments hold pointers to the targets to
/// fill, so copying a CheckpointArgs never copies array data.
class CheckpointArgs {
 public:
  CheckpointArgs() = default;
  template <typename T, typename = std::enable_if_t<IsArgumentType<std::decay_t<T>>()>>
  CheckpointArgs(T value)  // NOLINT: implicit, so that `Composite{{"x", JsonSave{j}}}` reads well
      : value_(std::make_shared<std::decay_t<T>>(std::move(value))),
        type_(typeid(std::decay_t<T>)) {}

  bool empty() const { return value_ == nullptr; }
  std::type_index type() const { return type_; }
  /// The held value if it is a T, else nullptr.
  template <typename T>
  const T* As() const {
    return type_ == typeid(T) ? static_cast<const T*>(value_.get()) : nullptr;
  }
  /// A readable name of the held type (demangled).
  std::string TypeName() const { return DemangledTypeName(type_); }

 private:
  std::shared_ptr<void> value_;
  std::type_index type_ = typeid(void);
};

/// Several named items saved or restored together (Orbax `args.Composite`). Each value is the
/// argument struct of its item's handler. Item names: non-empty, no '/', not starting with '_'
/// or '.'.
struct Composite {
  std::map<std::string, CheckpointArgs> items;

  Composite() = default;
  Composite(std::initializer_list<std::pair<const std::string, CheckpointArgs>> init)
      : items(init) {}
};

/// What a handler call may use. Every handler method that takes one is collective over `comm`.
struct HandlerContext {
  Communicator* comm = nullptr;
  /// Rank that writes shared files.
  int primary_host = 0;
  /// Permission bits for created files and directories (FileOptions).
  std::optional<uint32_t> path_permission_mode;
  /// Defaults for tree/array items (backend, array saving options), from the caller's options.
  const SaveOptions* save_options = nullptr;
  /// Defaults for restoring tree/array items.
  const RestoreOptions* restore_options = nullptr;
  /// Seconds per save phase, accumulated into `_CHECKPOINT_METADATA.performance_metrics`
  /// (may be null).
  nlohmann::json* performance_metrics = nullptr;
  /// Seconds to wait for the other ranks at an agreement point (AsyncOptions.timeout_secs).
  int timeout_secs = 1200;
  /// User barrier called before each agreement point (AsyncOptions.barrier_sync_fn); may be null.
  const std::function<Status(std::string_view key, int timeout_ms)>* barrier_sync_fn = nullptr;
  /// Prefix of the barrier keys (MultiprocessingOptions.barrier_sync_key_prefix + the step).
  std::string barrier_key;
  /// Memory limits (may be null: none).
  const MemoryOptions* memory_options = nullptr;
  /// The item's name, for messages (set for StageSave, whose call has no directory yet).
  std::string item_label;
  /// (internal) Reusable staging buffers of the checkpointer or manager; may be null.
  StagingArena* staging = nullptr;
};

/// Collective over ctx.comm: agrees on `local` like AgreeOnStatus, but a rank waits at most
/// ctx.timeout_secs for the others (DeadlineExceeded naming `phase` and the missing ranks; see
/// Communicator::AgreeWithin), after calling ctx.barrier_sync_fn if one is set. Handlers use it
/// at the points where ranks wait for each other.
Status AgreeInContext(const HandlerContext& ctx, const Status& local, std::string_view phase);

/// The second half of an asynchronous save, returned by CheckpointHandler::StageSave.
class StagedSave {
 public:
  virtual ~StagedSave() = default;
  /// Collective over ctx.comm, on cairn's background thread (with its own communicator):
  /// writes the staged item into `directory`, an existing empty directory. Must return the same
  /// Status on every rank.
  virtual Status Write(const HandlerContext& ctx, const std::filesystem::path& directory) = 0;
  /// Blocks until this save no longer reads the caller's memory except where the caller was told
  /// it may (MemoryOptions.is_prioritized_key_fn), or the background write failed. The async
  /// save returns to the caller only after this. Default: returns at once (all was copied by
  /// StageSave).
  virtual void AwaitCallerMemoryReleased() {}
};

/// Saves and restores one kind of item (Orbax `CheckpointHandler`). Implementations are stateless
/// or thread-compatible; one instance may serve many saves.
class CheckpointHandler {
 public:
  virtual ~CheckpointHandler() = default;
  /// The name recorded in `_CHECKPOINT_METADATA.item_handlers`, e.g. "cairn.JsonCheckpointHandler".
  /// Must be unique within a registry.
  virtual std::string TypeName() const = 0;
  /// Collective. Writes the item described by `args` into `directory`, an existing empty
  /// directory inside the step's temporary directory (the commit makes it visible). Must return
  /// the same Status on every rank (use AgreeOnStatus). InvalidArgument for an argument type this
  /// handler does not take.
  virtual Status Save(const HandlerContext& ctx, const std::filesystem::path& directory,
                      const CheckpointArgs& args) = 0;
  /// Collective, on the calling thread: the first half of an asynchronous save. Copies out of
  /// `args` whatever the caller may change once the save returns, and returns the rest of the
  /// save, run later in the background. Must return the same Status on every rank.
  /// Default: keeps a copy of `args` and calls Save from the background, which is right for
  /// argument structs that hold their data by value (JsonSave, RandomEngineSave...). Handlers
  /// whose arguments point into caller memory (as StandardSave's arrays do) must override it.
  virtual Result<std::unique_ptr<StagedSave>> StageSave(const HandlerContext& ctx,
                                                        const CheckpointArgs& args);
  /// Collective. Restores the item stored in `directory` into the targets `args` points to.
  virtual Status Restore(const HandlerContext& ctx, const std::filesystem::path& directory,
                         const CheckpointArgs& args) = 0;
  /// Local (no MPI, any machine): describes the stored item without reading array data, as a
  /// tree (arrays as DistributedArrays without pieces: dtype and global shape only).
  virtual Result<Tree> Metadata(const std::filesystem::path& directory) const = 0;
};

/// Registration flags of RegisterWithHandler (Orbax `for_save` / `for_restore`).
struct RegistrationOptions {
  bool for_save = false;
  bool for_restore = false;
};

/// Maps argument types to handlers, and handler names to handlers (Orbax
/// `CheckpointableHandlerRegistry`). Thread-safe.
class HandlerRegistry {
 public:
  HandlerRegistry();
  ~HandlerRegistry();
  HandlerRegistry(const HandlerRegistry&) = delete;
  HandlerRegistry& operator=(const HandlerRegistry&) = delete;

  /// A registry holding cairn's built-in handlers (Standard, PyTree, Array, Json, RandomEngine,
  /// RandomKey, Proto when built with protobuf). Copying the global one: `CopyOfGlobal()`.
  static std::shared_ptr<HandlerRegistry> WithBuiltins();
  /// A new registry with every registration of the global registry.
  static std::shared_ptr<HandlerRegistry> CopyOfGlobal();
  /// The process-wide registry used when no CheckpointablesOptions.registry is given.
  static HandlerRegistry& Global();

  /// Registers `args_type` (named `args_name` in messages) with `handler`. InvalidArgument if
  /// neither for_save nor for_restore is set; AlreadyExists if the type is already registered
  /// with a different handler, or another handler has the same TypeName().
  Status Register(std::type_index args_type, std::string args_name,
                  std::shared_ptr<CheckpointHandler> handler, RegistrationOptions options);
  /// The handler for an argument type (Orbax `get_registered_handler_cls`). NotFound naming the
  /// type when none was registered for that direction.
  Result<std::shared_ptr<CheckpointHandler>> HandlerForSave(const CheckpointArgs& args) const;
  Result<std::shared_ptr<CheckpointHandler>> HandlerForRestore(const CheckpointArgs& args) const;
  /// The handler for the item named `item`: the one bound to that name (RegisterForItem) if
  /// any, else the one registered for the argument type.
  Result<std::shared_ptr<CheckpointHandler>> HandlerForSave(std::string_view item,
                                                            const CheckpointArgs& args) const;
  Result<std::shared_ptr<CheckpointHandler>> HandlerForRestore(std::string_view item,
                                                               const CheckpointArgs& args) const;

  /// Binds `handler` to the item named `item` (Orbax `create_with_handlers(name=handler)`): that
  /// item is saved and restored by it whatever the argument type (the handler refuses arguments
  /// it does not take). Also registers the handler's name for metadata. AlreadyExists if another
  /// handler is bound to `item` or has the same TypeName().
  /// The handler registered under a name (as stored in `item_handlers`); NotFound otherwise.
  Result<std::shared_ptr<CheckpointHandler>> HandlerByName(std::string_view name) const;
  /// The (save, restore) argument type names registered with a handler (Orbax
  /// `get_registered_args_cls`); a direction without registration is "".
  Result<std::pair<std::string, std::string>> ArgsFor(std::string_view handler_name) const;
  Status RegisterForItem(std::string item, std::shared_ptr<CheckpointHandler> handler);

  struct Impl;  ///< (internal)

 private:
  std::unique_ptr<Impl> impl_;
};

/// Registers argument type T with `handler` in the global registry (Orbax
/// `register_with_handler`).
template <typename T>
Status RegisterWithHandler(std::shared_ptr<CheckpointHandler> handler,
                           RegistrationOptions options) {
  return HandlerRegistry::Global().Register(typeid(T), DemangledTypeName(typeid(T)),
                                            std::move(handler), options);
}

/// Orbax `get_registered_handler_cls`: the handler the global registry uses for `args`.
inline Result<std::shared_ptr<CheckpointHandler>> GetRegisteredHandler(const CheckpointArgs& args) {
  auto h = HandlerRegistry::Global().HandlerForSave(args);
  if (h.ok()) return h;
  return HandlerRegistry::Global().HandlerForRestore(args);
}

/// Orbax `get_registered_args_cls`: the (save, restore) argument type names of a handler.
inline Result<std::pair<std::string, std::string>> GetRegisteredArgs(
    const CheckpointHandler& handler) {
  return HandlerRegistry::Global().ArgsFor(handler.TypeName());
}

/// Options for checkpointables (Orbax `CheckpointablesOptions`).
struct CheckpointablesOptions {
  /// The registry used to resolve handlers. Default: null, meaning HandlerRegistry::Global().
  std::shared_ptr<HandlerRegistry> registry;

  /// Orbax `create_with_handlers(**named)`: a copy of the global registry in which each item
  /// name is bound to its handler. InvalidArgument/AlreadyExists as RegisterForItem.
  static Result<CheckpointablesOptions> CreateWithHandlers(
      const std::map<std::string, std::shared_ptr<CheckpointHandler>>& named);
};

}  // namespace cairn
