#include "checkpoint/handler_util.h"

#include "base/fs.h"

namespace cairn::checkpoint {

Status WrongArgs(std::string_view handler, const CheckpointArgs& args) {
  return InvalidArgumentError(std::string(handler) + " cannot take arguments of type " +
                              args.TypeName());
}

Result<std::string> ReadOnPrimaryAndShare(const HandlerContext& ctx,
                                          const std::filesystem::path& path) {
  Communicator& comm = *ctx.comm;
  std::string text;
  Status st;
  if (comm.rank() == ctx.primary_host) {
    auto read = base::ReadFile(path);
    st = read.status();
    if (read.ok()) text = std::move(read).value();
  }
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, comm.Broadcast(text, ctx.primary_host)));
  return text;
}

}  // namespace cairn::checkpoint
