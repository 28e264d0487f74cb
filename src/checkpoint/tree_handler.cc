// The handlers that store cairn trees: Standard, PyTree and Array. All three write the same
// format (a backend's data files plus `_METADATA`), so each can restore the others' items.
#include <memory>

#include "base/fs.h"
#include "cairn/args.h"
#include "checkpoint/builtin_handlers.h"
#include "checkpoint/handler_util.h"
#include "checkpoint/impl.h"
#include "coord/commit.h"
#include "format/metadata_json.h"

namespace cairn::checkpoint {
namespace {

namespace fs = std::filesystem;

// The key under which ArraySave stores its array (Orbax's default `array_name`).
constexpr char kArrayKey[] = "array";

Result<Tree> ReadTreeMetadata(const fs::path& directory) {
  CAIRN_ASSIGN_OR_RETURN(ItemMetadata m, coord::LoadItemMetadata(directory));
  return m.ToTree();
}

class TreeHandlerImpl : public CheckpointHandler {
 public:
  // Calls fn(tree, options) with the tree of the save arguments and the options they imply.
  template <typename Fn>
  Status WithTree(const HandlerContext& ctx, const CheckpointArgs& args, Fn fn) {
    const SaveOptions defaults;
    const SaveOptions& base = ctx.save_options ? *ctx.save_options : defaults;
    if (auto* a = args.As<StandardSave>()) return fn(a->item, base);
    if (auto* a = args.As<TreeSaveRef>()) return fn(*a->item, base);
    if (auto* a = args.As<PyTreeSave>()) {
      SaveOptions opts = base;
      if (a->backend) opts.backend = *a->backend;
      if (a->array) opts.array = *a->array;
      return fn(a->item, opts);
    }
    if (auto* a = args.As<ArraySave>()) {
      Tree t;
      t[kArrayKey] = a->item;
      return fn(t, base);
    }
    return AgreeOnStatus(*ctx.comm, WrongArgs(name_, args));
  }

  explicit TreeHandlerImpl(std::string name) : name_(std::move(name)) {}
  std::string TypeName() const override { return name_; }

  Status Save(const HandlerContext& ctx, const fs::path& directory,
              const CheckpointArgs& args) override {
    const std::string label = directory.filename().string();
    return WithTree(ctx, args, [&](const Tree& tree, const SaveOptions& opts) {
      return SaveTreeItem(ctx, directory, label, tree, opts);
    });
  }

  Result<std::unique_ptr<StagedSave>> StageSave(const HandlerContext& ctx,
                                                const CheckpointArgs& args) override {
    // The label is the item name, which the context does not carry: the caller's barrier key
    // ends with it, but messages only need something readable.
    std::unique_ptr<StagedSave> staged;
    Status st = WithTree(ctx, args, [&](const Tree& tree, const SaveOptions& opts) -> Status {
      CAIRN_ASSIGN_OR_RETURN(staged, StageTreeItem(ctx, ctx.item_label, tree, opts, true));
      return OkStatus();
    });
    if (!st.ok()) return st;
    return staged;
  }

  Status Restore(const HandlerContext& ctx, const fs::path& directory,
                 const CheckpointArgs& args) override {
    const RestoreOptions defaults;
    RestoreOptions opts = ctx.restore_options ? *ctx.restore_options : defaults;
    const std::string label = directory.filename().string();
    Tree* target = nullptr;
    RestoreReport* report = nullptr;
    Tree array_tree;  // ArrayRestore: the array under its key (pieces point at the caller's memory)
    if (auto* a = args.As<StandardRestore>()) {
      target = a->item;
      report = a->report;
      opts.strict = a->strict;
    } else if (auto* a = args.As<TreeRestoreRef>()) {
      target = a->item;
      report = a->report;
    } else if (auto* a = args.As<PyTreeRestore>()) {
      target = a->item;
      report = a->report;
      if (a->options) opts = *a->options;
    } else if (auto* a = args.As<ArrayRestore>()) {
      if (a->item != nullptr) {
        array_tree[kArrayKey] = *a->item;
        target = &array_tree;
      }
    } else {
      return AgreeOnStatus(*ctx.comm, WrongArgs(name_, args));
    }
    if (target == nullptr) {
      return AgreeOnStatus(*ctx.comm,
                           InvalidArgumentError("item '" + label + "': null restore target"));
    }
    auto result =
        RestoreTreeItems(*ctx.comm, ctx.primary_host, {TreeTarget{directory, label, target}}, opts,
                         ctx.memory_options, ctx.timeout_secs);
    if (!result.ok()) return result.status();
    if (report != nullptr) *report = std::move(result).value();
    return OkStatus();
  }

  Result<Tree> Metadata(const fs::path& directory) const override {
    return ReadTreeMetadata(directory);
  }

 private:
  std::string name_;
};

}  // namespace

std::shared_ptr<CheckpointHandler> StandardHandler() {
  static auto h = std::make_shared<TreeHandlerImpl>(kStandardHandlerName);
  return h;
}
std::shared_ptr<CheckpointHandler> PyTreeHandler() {
  static auto h = std::make_shared<TreeHandlerImpl>(kTreeHandlerName);
  return h;
}
std::shared_ptr<CheckpointHandler> ArrayHandler() {
  static auto h = std::make_shared<TreeHandlerImpl>(kArrayHandlerName);
  return h;
}
std::shared_ptr<CheckpointHandler> TreeHandler() { return PyTreeHandler(); }

bool IsTreeHandlerName(std::string_view name) {
  name = CanonicalHandlerName(name);
  return name == kStandardHandlerName || name == kTreeHandlerName;
}

std::string_view CanonicalHandlerName(std::string_view name) {
  if (name == kOrbaxStandardHandlerName) return kStandardHandlerName;
  if (name == kOrbaxPyTreeHandlerName) return kTreeHandlerName;
  if (name == kOrbaxJsonHandlerName) return kJsonHandlerName;
  return name;
}

std::string_view OrbaxHandlerName(std::string_view name) {
  if (name == kStandardHandlerName) return kOrbaxStandardHandlerName;
  if (name == kTreeHandlerName) return kOrbaxPyTreeHandlerName;
  if (name == kJsonHandlerName) return kOrbaxJsonHandlerName;
  return name;
}

}  // namespace cairn::checkpoint
