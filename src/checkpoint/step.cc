// Steps made of items: resolving argument structs to handlers, checking what a committed step
// holds, and restoring its items through their handlers.
#include "checkpoint/step.h"

#include <map>

#include "base/fs.h"
#include "cairn/args.h"
#include "checkpoint/builtin_handlers.h"
#include "coord/commit.h"
#include "format/metadata_json.h"

namespace cairn::checkpoint {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out.empty() ? "none" : out;
}

}  // namespace

const HandlerRegistry& RegistryOf(const CheckpointablesOptions& options) {
  return options.registry ? *options.registry : HandlerRegistry::Global();
}

std::vector<std::pair<std::string, const CheckpointArgs*>> SplitItems(const CheckpointArgs& args) {
  std::vector<std::pair<std::string, const CheckpointArgs*>> out;
  if (const auto* c = args.As<Composite>()) {
    for (const auto& [name, a] : c->items) out.emplace_back(name, &a);
  } else {
    out.emplace_back(kDefaultItem, &args);
  }
  return out;
}

Result<std::vector<StepItem>> ResolveSaveItems(const HandlerRegistry& registry,
                                               const CheckpointArgs& args) {
  std::vector<StepItem> items;
  for (const auto& [name, a] : SplitItems(args)) {
    auto handler = registry.HandlerForSave(name, *a);
    if (!handler.ok()) return handler.status().WithContext("item '" + name + "'");
    items.push_back({name, *handler, a});
  }
  if (items.empty()) return InvalidArgumentError("nothing to save: the Composite has no items");
  return items;
}

Result<json> CheckStepItems(Communicator& comm, int primary, const fs::path& directory,
                            const std::vector<std::string>& names) {
  std::string payload;
  Status st;
  if (comm.rank() == primary) {
    st = [&]() -> Status {
      CAIRN_RETURN_IF_ERROR(coord::CheckCommitted(directory));
      CAIRN_ASSIGN_OR_RETURN(CheckpointMetadata cm, ReadCheckpointMetadata(directory));
      std::vector<std::string> have;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(directory, ec)) {
        if (e.is_directory(ec)) have.push_back(e.path().filename().string());
      }
      std::sort(have.begin(), have.end());
      for (const std::string& name : names) {
        if (!fs::is_directory(coord::ItemDirectory(directory, name), ec)) {
          return NotFoundError("checkpoint '" + directory.string() + "' has no item '" + name +
                               "' (it has: " + JoinNames(have) + ")");
        }
      }
      payload = cm.item_handlers.dump();
      return OkStatus();
    }();
  }
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, comm.Broadcast(payload, primary)));
  json handlers = json::parse(payload, nullptr, false);
  if (handlers.is_discarded() || !handlers.is_object()) handlers = json::object();
  return handlers;
}

Status RestoreStep(Communicator& comm, const CheckpointerOptions& opts, const fs::path& directory,
                   const CheckpointArgs& args, const RestoreOptions& options) {
  const int primary = opts.multiprocessing.primary_host.value_or(0);
  const HandlerRegistry& registry = RegistryOf(opts.checkpointables);
  std::vector<std::pair<std::string, std::shared_ptr<CheckpointHandler>>> plan;
  const auto items = SplitItems(args);
  Status st = [&]() -> Status {
    if (items.empty())
      return InvalidArgumentError("nothing to restore: the Composite has no items");
    for (const auto& [name, a] : items) {
      auto handler = registry.HandlerForRestore(name, *a);
      if (!handler.ok()) return handler.status().WithContext("item '" + name + "'");
      plan.emplace_back(name, *handler);
    }
    return OkStatus();
  }();
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));
  std::vector<std::string> names;
  for (const auto& [name, a] : items) names.push_back(name);
  CAIRN_ASSIGN_OR_RETURN(json stored, CheckStepItems(comm, primary, directory, names));

  // Every item's handler must match the one that saved it, checked before any target is touched
  // (identical on every rank: `stored` was broadcast).
  for (size_t k = 0; k < items.size(); ++k) {
    const auto& [name, handler] = plan[k];
    const std::string saved_by(CanonicalHandlerName(stored.value(name, std::string())));
    if (!saved_by.empty() && saved_by != handler->TypeName() &&
        !(IsTreeHandlerName(saved_by) && IsTreeHandlerName(handler->TypeName()))) {
      return FailedPreconditionError("checkpoint '" + directory.string() + "' item '" + name +
                                     "' was saved by " + saved_by +
                                     ", but the restore arguments (" + items[k].second->TypeName() +
                                     ") belong to " + handler->TypeName());
    }
  }
  HandlerContext hctx{&comm, primary, std::nullopt, nullptr, &options, nullptr};
  hctx.timeout_secs = opts.async_options.timeout_secs;
  hctx.memory_options = &opts.memory_options;
  for (size_t k = 0; k < items.size(); ++k) {
    const auto& [name, handler] = plan[k];
    st = handler->Restore(hctx, coord::ItemDirectory(directory, name), *items[k].second);
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(
        comm, st.WithContext("checkpoint '" + directory.string() + "' item '" + name + "'")));
  }
  return OkStatus();
}

Result<std::map<std::string, Tree>> ReadStepItemMetadata(const HandlerRegistry& registry,
                                                         const fs::path& directory) {
  CAIRN_RETURN_IF_ERROR(coord::CheckCommitted(directory));
  CAIRN_ASSIGN_OR_RETURN(CheckpointMetadata cm, ReadCheckpointMetadata(directory));
  std::map<std::string, Tree> out;
  for (const auto& [name, handler_name] : cm.item_handlers.items()) {
    if (!handler_name.is_string()) {
      return DataLossError("'" + (directory / coord::kCheckpointMetadataFile).string() +
                           "': item_handlers['" + name + "'] is not a string");
    }
    auto handler = registry.HandlerByName(handler_name.get<std::string>());
    if (!handler.ok()) {
      // A custom item this process has no handler for: named, not fatal for the other items.
      out.emplace(name, Tree::Json({{"handler", handler_name}, {"unknown_handler", true}}));
      continue;
    }
    auto tree = (*handler)->Metadata(coord::ItemDirectory(directory, name));
    if (!tree.ok()) return tree.status().WithContext("item '" + name + "'");
    out.emplace(name, std::move(tree).value());
  }
  return out;
}

}  // namespace cairn::checkpoint
