// ProtoCheckpointHandler: the primary writes the message in text format (as Orbax does) to
// `<item>/proto.pbtxt`, headed by the usual text-proto comment naming the message type; on
// restore the primary reads the file and every rank parses the same text into a scratch message,
// which replaces the target only once every rank has parsed it.
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <memory>
#include <string>

#include "base/fs.h"
#include "cairn/proto.h"
#include "checkpoint/builtin_handlers.h"
#include "checkpoint/handler_util.h"

namespace cairn::checkpoint {
namespace {

namespace fs = std::filesystem;
namespace pb = google::protobuf;

constexpr char kProtoFile[] = "proto.pbtxt";
constexpr std::string_view kTypeHeader = "# proto-message: ";

// Keeps the parser's first error for the message (by default it goes to the log).
class FirstError : public pb::io::ErrorCollector {
 public:
#if GOOGLE_PROTOBUF_VERSION >= 4022000
  void RecordError(int line, pb::io::ColumnNumber column, absl::string_view message) override {
    Keep(line, column, std::string(message));
  }
#else
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    Keep(line, column, message);
  }
#endif
  const std::string& text() const { return text_; }

 private:
  void Keep(int line, int column, const std::string& message) {
    // Lines are zero-based and the header line is not part of the parsed text.
    if (text_.empty()) {
      text_ = "line " + std::to_string(line + 2) + ", column " + std::to_string(column + 1) + ": " +
              message;
    }
  }
  std::string text_;
};

// The stored file: header line, then the text-format message.
struct StoredProto {
  std::string type;
  std::string body;
};

Result<StoredProto> SplitFile(const fs::path& path, std::string_view text) {
  if (!text.starts_with(kTypeHeader)) {
    return DataLossError("'" + path.string() + "' does not start with '" +
                         std::string(kTypeHeader) + "<message type>'");
  }
  const size_t eol = text.find('\n');
  if (eol == std::string_view::npos) {
    return DataLossError("'" + path.string() + "' is truncated after its header line");
  }
  StoredProto out;
  out.type = std::string(text.substr(kTypeHeader.size(), eol - kTypeHeader.size()));
  out.body = std::string(text.substr(eol + 1));
  if (out.type.empty()) return DataLossError("'" + path.string() + "' names no message type");
  return out;
}

class ProtoHandlerImpl : public CheckpointHandler {
 public:
  std::string TypeName() const override { return kProtoHandlerName; }

  Status Save(const HandlerContext& ctx, const fs::path& directory,
              const CheckpointArgs& args) override {
    const auto* a = args.As<ProtoSave>();
    Status st;
    if (a == nullptr) {
      st = WrongArgs(TypeName(), args);
    } else if (a->item == nullptr) {
      st = InvalidArgumentError("ProtoSave: null message");
    }
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*ctx.comm, st));
    if (ctx.comm->rank() == ctx.primary_host) {
      std::string body;
      if (!pb::TextFormat::PrintToString(*a->item, &body)) {
        st = InternalError("item '" + directory.filename().string() + "': message of type " +
                           a->item->GetTypeName() + " could not be printed in text format");
      } else {
        st = base::WriteFileDurably(directory / kProtoFile,
                                    std::string(kTypeHeader) + a->item->GetTypeName() + "\n" + body,
                                    ctx.path_permission_mode);
      }
    }
    return AgreeOnStatus(*ctx.comm, st);
  }

  Status Restore(const HandlerContext& ctx, const fs::path& directory,
                 const CheckpointArgs& args) override {
    Communicator& comm = *ctx.comm;
    const auto* a = args.As<ProtoRestore>();
    Status st;
    if (a == nullptr) {
      st = WrongArgs(TypeName(), args);
    } else if (a->item == nullptr) {
      st = InvalidArgumentError("ProtoRestore: null target message");
    }
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));
    const fs::path path = directory / kProtoFile;
    CAIRN_ASSIGN_OR_RETURN(std::string text, ReadOnPrimaryAndShare(ctx, path));
    auto stored = SplitFile(path, text);
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, stored.status()));
    const std::string want = a->item->GetTypeName();
    if (stored->type != want) {
      st = FailedPreconditionError("'" + path.string() + "' holds a message of type " +
                                   stored->type + ", which cannot be restored into a " + want);
    }
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));
    std::unique_ptr<pb::Message> scratch(a->item->New());
    FirstError errors;
    pb::TextFormat::Parser parser;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFromString(stored->body, scratch.get())) {
      st = DataLossError("'" + path.string() + "' is not a valid text-format " + want + ": " +
                         errors.text());
    }
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));
    a->item->GetReflection()->Swap(a->item, scratch.get());
    return OkStatus();
  }

  Result<Tree> Metadata(const fs::path& directory) const override {
    const fs::path path = directory / kProtoFile;
    CAIRN_ASSIGN_OR_RETURN(std::string text, base::ReadFile(path));
    CAIRN_ASSIGN_OR_RETURN(StoredProto stored, SplitFile(path, text));
    Tree t;
    t["message_type"] = stored.type;
    t["text_bytes"] = Scalar(static_cast<int64_t>(stored.body.size()));
    return t;
  }
};

std::shared_ptr<CheckpointHandler> ProtoHandler() {
  static auto h = std::make_shared<ProtoHandlerImpl>();
  return h;
}

}  // namespace

void RegisterProtoHandler(HandlerRegistry& r) {
  for (auto [type, save] : {std::pair{std::type_index(typeid(ProtoSave)), true},
                            std::pair{std::type_index(typeid(ProtoRestore)), false}}) {
    Status st = r.Register(type, DemangledTypeName(type), ProtoHandler(),
                           {.for_save = save, .for_restore = !save});
    if (!st.ok()) std::abort();  // a broken invariant: built-in names collide
  }
}

}  // namespace cairn::checkpoint
