#pragma once
// Small filesystem helpers with Status errors naming the path.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::base {

/// fsync of a file or directory by path.
Status FsyncPath(const std::filesystem::path& path);
/// Writes `contents` to `path` (create/truncate), fsyncs it, applies `mode` if given.
Status WriteFileDurably(const std::filesystem::path& path, std::string_view contents,
                        std::optional<uint32_t> mode = std::nullopt);
/// Reads a whole file. NotFound / DataLoss with the path.
Result<std::string> ReadFile(const std::filesystem::path& path);
/// mkdir -p with `mode` applied to the directories it creates.
Status CreateDirectories(const std::filesystem::path& path, std::optional<uint32_t> mode);
/// Status for a failed system call: code from ErrnoToCode, message "<what> '<path>': <errno text>".
Status ErrnoError(int err, const std::string& what, const std::filesystem::path& path);
/// Message for an errno value: "No space left on device (ENOSPC)".
std::string ErrnoMessage(int err);
/// Maps errno to a StatusCode (ENOENT -> NotFound, ENOSPC -> ResourceExhausted, EACCES ->
/// PermissionDenied, EEXIST -> AlreadyExists, else Internal).
StatusCode ErrnoToCode(int err);

}  // namespace cairn::base
