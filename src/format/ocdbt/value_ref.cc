#include "format/ocdbt/value_ref.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "base/fs.h"

namespace cairn::ocdbt {
namespace {

std::string Str(uint64_t v) { return std::to_string(v); }

}  // namespace

Result<std::optional<ValueRef>> GetValueRef(const ReadView& view, std::string_view key) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<ReadView::Located> found, view.Locate(key));
  if (!found) return std::optional<ValueRef>();
  if (found->entry.is_inline()) {
    return std::optional<ValueRef>(std::move(std::get<std::string>(found->entry.value)));
  }
  const IndirectRef& ref = std::get<IndirectRef>(found->entry.value);
  return std::optional<ValueRef>(
      FileRange{.file = found->file, .offset = ref.offset, .length = ref.length});
}

Status ReadValueBytes(const ReadView& view, const FileRange& range, uint64_t offset,
                      uint64_t length, char* dest) {
  const std::string rel = range.file.FullPath();
  const std::filesystem::path path = view.root() / rel;
  if (!SafeRelativePath(rel)) {
    return DataLossError((view.root() / "manifest.ocdbt").string() + ": data file path \"" + rel +
                         "\" is not a relative path inside the database");
  }
  if (offset > range.length || length > range.length - offset) {
    return DataLossError(path.string() + ": bytes [" + Str(offset) + ", +" + Str(length) +
                         ") pass the end of the value of " + Str(range.length) + " bytes");
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return DataLossError("data file '" + path.string() +
                           "' referenced by the database is missing");
    }
    return base::ErrnoError(err, "open", path);
  }
  uint64_t done = 0;
  Status status = OkStatus();
  while (done < length) {
    const ssize_t n =
        ::pread(fd, dest + done, length - done, static_cast<off_t>(range.offset + offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      status = base::ErrnoError(errno, "pread", path);
      break;
    }
    if (n == 0) {
      status = DataLossError(path.string() + ": range [" + Str(range.offset + offset) + ", +" +
                             Str(length) + ") passes the end of the file");
      break;
    }
    done += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return status;
}

}  // namespace cairn::ocdbt
