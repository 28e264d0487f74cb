#pragma once
// Pieces shared by the built-in handlers (internal).

#include <filesystem>
#include <string>
#include <string_view>

#include "cairn/handler.h"

namespace cairn::checkpoint {

/// InvalidArgument: `handler` was given an argument struct it does not take.
Status WrongArgs(std::string_view handler, const CheckpointArgs& args);

/// Collective: the primary reads `path` and every rank receives its text (the same Status on
/// every rank when the read fails).
Result<std::string> ReadOnPrimaryAndShare(const HandlerContext& ctx,
                                          const std::filesystem::path& path);

}  // namespace cairn::checkpoint
