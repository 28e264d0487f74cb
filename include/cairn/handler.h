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
