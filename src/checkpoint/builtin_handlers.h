#pragma once
// Factories of the built-in handlers, registered by HandlerRegistry::WithBuiltins (internal).

#include <memory>

#include "cairn/handler.h"

namespace cairn::checkpoint {

/// Handler names, as stored in `_CHECKPOINT_METADATA.item_handlers`.
inline constexpr char kStandardHandlerName[] = "cairn.StandardCheckpointHandler";
// The handlers Orbax records for tree items; cairn restores their items with its tree handlers.
inline constexpr char kOrbaxStandardHandlerName[] =
    "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler";
inline constexpr char kOrbaxPyTreeHandlerName[] =
    "orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler";
inline constexpr char kOrbaxJsonHandlerName[] =
    "orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler";
inline constexpr char kArrayHandlerName[] = "cairn.ArrayCheckpointHandler";
inline constexpr char kJsonHandlerName[] = "cairn.JsonCheckpointHandler";
inline constexpr char kRandomEngineHandlerName[] = "cairn.RandomEngineHandler";
inline constexpr char kRandomKeyHandlerName[] = "cairn.RandomKeyHandler";
inline constexpr char kProtoHandlerName[] = "cairn.ProtoCheckpointHandler";

std::shared_ptr<CheckpointHandler> StandardHandler();  // StandardSave / StandardRestore
std::shared_ptr<CheckpointHandler> PyTreeHandler();    // PyTreeSave / PyTreeRestore
std::shared_ptr<CheckpointHandler> ArrayHandler();     // ArraySave / ArrayRestore
std::shared_ptr<CheckpointHandler> JsonHandler();      // JsonSave / JsonRestore
std::shared_ptr<CheckpointHandler> RandomEngineHandler();
std::shared_ptr<CheckpointHandler> RandomKeyHandler();

/// Registers the built-in handlers and their argument types into `registry`.
void RegisterBuiltinHandlers(HandlerRegistry& registry);
/// Registers the protobuf handler (defined only when built with protobuf).
void RegisterProtoHandler(HandlerRegistry& registry);

/// True for the general tree handlers (Standard, PyTree): either restores the other's items.
/// (The array handler's items hold one array under a fixed key: only ArrayRestore reads them.)
bool IsTreeHandlerName(std::string_view name);
/// cairn's name for a handler name Orbax records (its Standard, PyTree and Json handlers, whose
/// items cairn reads), else `name`.
std::string_view CanonicalHandlerName(std::string_view name);
/// The name Orbax records for the handler of cairn's whose items Orbax reads when saved in
/// Orbax's format (Standard and PyTree items of the ocdbt backend, JSON items), else `name`.
std::string_view OrbaxHandlerName(std::string_view name);

}  // namespace cairn::checkpoint
