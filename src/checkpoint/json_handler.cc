// JsonCheckpointHandler: the primary rank writes the value to `<item>/metadata` (Orbax's file
// name); on restore the primary reads it and every rank receives the same text.
#include "base/fs.h"
#include "cairn/args.h"
#include "checkpoint/builtin_handlers.h"
#include "checkpoint/handler_util.h"

namespace cairn::checkpoint {
namespace {

namespace fs = std::filesystem;
constexpr char kJsonFile[] = "metadata";

Result<nlohmann::json> ParseJsonFile(const fs::path& path, std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return DataLossError("'" + path.string() + "' is not valid JSON");
  return j;
}

class JsonHandlerImpl : public CheckpointHandler {
 public:
  std::string TypeName() const override { return kJsonHandlerName; }

  Status Save(const HandlerContext& ctx, const fs::path& directory,
              const CheckpointArgs& args) override {
    const auto* a = args.As<JsonSave>();
    Status st;
    if (a == nullptr) {
      st = WrongArgs(TypeName(), args);
    } else if (ctx.comm->rank() == ctx.primary_host) {
      std::string text;
      try {
        text = a->item.dump(2);
      } catch (const nlohmann::json::exception& e) {
        st = InvalidArgumentError("item '" + directory.filename().string() +
                                  "': JSON value cannot be serialised: " + e.what());
      }
      if (st.ok()) {
        st = base::WriteFileDurably(directory / kJsonFile, text, ctx.path_permission_mode);
      }
    }
    return AgreeOnStatus(*ctx.comm, st);
  }

  Status Restore(const HandlerContext& ctx, const fs::path& directory,
                 const CheckpointArgs& args) override {
    const auto* a = args.As<JsonRestore>();
    Status st;
    if (a == nullptr) {
      st = WrongArgs(TypeName(), args);
    } else if (a->item == nullptr) {
      st = InvalidArgumentError("JsonRestore: null target");
    }
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*ctx.comm, st));
    CAIRN_ASSIGN_OR_RETURN(std::string text, ReadOnPrimaryAndShare(ctx, directory / kJsonFile));
    auto parsed = ParseJsonFile(directory / kJsonFile, text);
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*ctx.comm, parsed.status()));
    *a->item = std::move(parsed).value();
    return OkStatus();
  }

  Result<Tree> Metadata(const fs::path& directory) const override {
    CAIRN_ASSIGN_OR_RETURN(std::string text, base::ReadFile(directory / kJsonFile));
    CAIRN_ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonFile(directory / kJsonFile, text));
    return Tree::Json(std::move(j));
  }
};

}  // namespace

std::shared_ptr<CheckpointHandler> JsonHandler() {
  static auto h = std::make_shared<JsonHandlerImpl>();
  return h;
}

}  // namespace cairn::checkpoint
