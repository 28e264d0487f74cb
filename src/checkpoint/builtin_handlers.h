#pragma once
// Factories of the built-in handlers, registered by HandlerRegistry::WithBuiltins (internal).

#include <memory>

#include "cairn/handler.h"

namespace cairn::checkpoint {

/// Handler names, as stored in `_CHECKPOINT_METADATA.item_handlers`.
inline constexpr char kStandardHandlerName[] = "cairn.StandardCheckpointHandler";
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

}  // namespace cairn::checkpoint
