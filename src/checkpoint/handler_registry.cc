// The handler registry: argument types -> handlers, handler names -> handlers.
#include <cxxabi.h>

#include <cstdlib>
#include <map>
#include <mutex>

#include "cairn/args.h"
#include "cairn_config.h"
#include "checkpoint/builtin_handlers.h"
#include "checkpoint/impl.h"

namespace cairn {

std::string DemangledTypeName(std::type_index type) {
  int status = 0;
  char* name = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string out = (status == 0 && name != nullptr) ? name : type.name();
  std::free(name);
  return out;
}

struct HandlerRegistry::Impl {
  struct Entry {
    std::string args_name;
    std::shared_ptr<CheckpointHandler> handler;
  };
  mutable std::mutex mu;
  std::map<std::type_index, Entry> save, restore;
  std::map<std::string, std::shared_ptr<CheckpointHandler>, std::less<>> by_name;
  std::map<std::string, std::pair<std::string, std::string>, std::less<>> args_of;
  std::map<std::string, std::shared_ptr<CheckpointHandler>, std::less<>> by_item;
};

HandlerRegistry::HandlerRegistry() : impl_(std::make_unique<Impl>()) {}
HandlerRegistry::~HandlerRegistry() = default;

std::shared_ptr<HandlerRegistry> HandlerRegistry::WithBuiltins() {
  auto r = std::make_shared<HandlerRegistry>();
  checkpoint::RegisterBuiltinHandlers(*r);
  return r;
}

HandlerRegistry& HandlerRegistry::Global() {
  static HandlerRegistry* global = [] {
    auto* r = new HandlerRegistry();  // never destroyed: handlers may be used at exit
    checkpoint::RegisterBuiltinHandlers(*r);
    return r;
  }();
  return *global;
}

std::shared_ptr<HandlerRegistry> HandlerRegistry::CopyOfGlobal() {
  auto r = std::make_shared<HandlerRegistry>();
  const Impl& g = *Global().impl_;
  std::lock_guard<std::mutex> lock(g.mu);
  r->impl_->save = g.save;
  r->impl_->restore = g.restore;
  r->impl_->by_name = g.by_name;
  r->impl_->args_of = g.args_of;
  r->impl_->by_item = g.by_item;
  return r;
}

Status HandlerRegistry::Register(std::type_index args_type, std::string args_name,
                                 std::shared_ptr<CheckpointHandler> handler,
                                 RegistrationOptions options) {
  if (handler == nullptr) return InvalidArgumentError("RegisterWithHandler: null handler");
  if (!options.for_save && !options.for_restore) {
    return InvalidArgumentError("RegisterWithHandler(" + args_name +
                                "): for_save and for_restore cannot both be false");
  }
  const std::string name = handler->TypeName();
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto named = impl_->by_name.find(name);
  if (named != impl_->by_name.end() && named->second != handler) {
    return AlreadyExistsError("another handler is already registered under the name '" + name +
                              "'");
  }
  for (auto [on, table] : {std::pair{options.for_save, &impl_->save},
                           std::pair{options.for_restore, &impl_->restore}}) {
    if (!on) continue;
    auto it = table->find(args_type);
    if (it != table->end() && it->second.handler != handler) {
      return AlreadyExistsError("argument type " + args_name + " is already registered with " +
                                it->second.handler->TypeName());
    }
  }
  if (options.for_save) impl_->save[args_type] = {args_name, handler};
  if (options.for_restore) impl_->restore[args_type] = {args_name, handler};
  impl_->by_name[name] = handler;
  auto& args = impl_->args_of[name];
  if (options.for_save) args.first = args_name;
  if (options.for_restore) args.second = args_name;
  return OkStatus();
}

namespace {
Result<std::shared_ptr<CheckpointHandler>> Lookup(
    const std::map<std::type_index, HandlerRegistry::Impl::Entry>& table, std::mutex& mu,
    const CheckpointArgs& args, const char* direction) {
  if (args.empty()) return InvalidArgumentError("empty checkpoint arguments");
  std::lock_guard<std::mutex> lock(mu);
  auto it = table.find(args.type());
  if (it == table.end()) {
    return NotFoundError("no checkpoint handler is registered to " + std::string(direction) +
                         " arguments of type " + args.TypeName() +
                         " (register one with cairn::RegisterWithHandler or "
                         "CheckpointablesOptions.registry)");
  }
  return it->second.handler;
}
}  // namespace

Result<std::shared_ptr<CheckpointHandler>> HandlerRegistry::HandlerForSave(
    const CheckpointArgs& args) const {
  return Lookup(impl_->save, impl_->mu, args, "save");
}

Result<std::shared_ptr<CheckpointHandler>> HandlerRegistry::HandlerForRestore(
    const CheckpointArgs& args) const {
  return Lookup(impl_->restore, impl_->mu, args, "restore");
}

Result<std::shared_ptr<CheckpointHandler>> HandlerRegistry::HandlerByName(
    std::string_view name) const {
  // Items Orbax saved with its tree and JSON handlers are read by cairn's.
  name = checkpoint::CanonicalHandlerName(name);
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->by_name.find(name);
  if (it == impl_->by_name.end()) {
    std::string known;
    for (const auto& [n, h] : impl_->by_name) known += (known.empty() ? "" : ", ") + n;
    return NotFoundError("no checkpoint handler named '" + std::string(name) +
                         "' is registered (known: " + known + ")");
  }
  return it->second;
}

Status HandlerRegistry::RegisterForItem(std::string item,
                                        std::shared_ptr<CheckpointHandler> handler) {
  if (handler == nullptr) return InvalidArgumentError("RegisterForItem: null handler");
  if (item.empty()) return InvalidArgumentError("RegisterForItem: empty item name");
  const std::string name = handler->TypeName();
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto named = impl_->by_name.find(name);
  if (named != impl_->by_name.end() && named->second != handler) {
    return AlreadyExistsError("another handler is already registered under the name '" + name +
                              "'");
  }
  auto bound = impl_->by_item.find(item);
  if (bound != impl_->by_item.end() && bound->second != handler) {
    return AlreadyExistsError("item '" + item + "' is already bound to " +
                              bound->second->TypeName());
  }
  impl_->by_item[item] = handler;
  impl_->by_name[name] = handler;
  return OkStatus();
}

Result<std::shared_ptr<CheckpointHandler>> HandlerRegistry::HandlerForSave(
    std::string_view item, const CheckpointArgs& args) const {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->by_item.find(item);
    if (it != impl_->by_item.end()) return it->second;
  }
  return HandlerForSave(args);
}

Result<std::shared_ptr<CheckpointHandler>> HandlerRegistry::HandlerForRestore(
    std::string_view item, const CheckpointArgs& args) const {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->by_item.find(item);
    if (it != impl_->by_item.end()) return it->second;
  }
  return HandlerForRestore(args);
}

Result<CheckpointablesOptions> CheckpointablesOptions::CreateWithHandlers(
    const std::map<std::string, std::shared_ptr<CheckpointHandler>>& named) {
  CheckpointablesOptions out{HandlerRegistry::CopyOfGlobal()};
  for (const auto& [item, handler] : named) {
    CAIRN_RETURN_IF_ERROR(out.registry->RegisterForItem(item, handler));
  }
  return out;
}

Result<std::pair<std::string, std::string>> HandlerRegistry::ArgsFor(
    std::string_view handler_name) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->args_of.find(handler_name);
  if (it == impl_->args_of.end()) {
    return NotFoundError("no argument types are registered with handler '" +
                         std::string(handler_name) + "'");
  }
  return it->second;
}

namespace checkpoint {

void RegisterBuiltinHandlers(HandlerRegistry& r) {
  auto reg = [&r](std::type_index t, std::shared_ptr<CheckpointHandler> h, bool save) {
    Status st =
        r.Register(t, DemangledTypeName(t), std::move(h), {.for_save = save, .for_restore = !save});
    if (!st.ok()) std::abort();  // a broken invariant: built-in names collide
  };
  reg(typeid(StandardSave), StandardHandler(), true);
  reg(typeid(StandardRestore), StandardHandler(), false);
  reg(typeid(PyTreeSave), PyTreeHandler(), true);
  reg(typeid(PyTreeRestore), PyTreeHandler(), false);
  reg(typeid(ArraySave), ArrayHandler(), true);
  reg(typeid(ArrayRestore), ArrayHandler(), false);
  reg(typeid(JsonSave), JsonHandler(), true);
  reg(typeid(JsonRestore), JsonHandler(), false);
  reg(typeid(RandomEngineSave), RandomEngineHandler(), true);
  reg(typeid(RandomEngineRestore), RandomEngineHandler(), false);
  reg(typeid(RandomKeySave), RandomKeyHandler(), true);
  reg(typeid(RandomKeyRestore), RandomKeyHandler(), false);
#if CAIRN_HAVE_PROTOBUF
  RegisterProtoHandler(r);
#endif
}

}  // namespace checkpoint
}  // namespace cairn
