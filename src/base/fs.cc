#include "base/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace cairn::base {

std::string ErrnoMessage(int err) {
  return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")";
}

StatusCode ErrnoToCode(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return StatusCode::kNotFound;
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
      return StatusCode::kResourceExhausted;
    case EACCES:
    case EPERM:
    case EROFS:
      return StatusCode::kPermissionDenied;
    case EEXIST:
    case ENOTEMPTY:
      return StatusCode::kAlreadyExists;
    default:
      return StatusCode::kInternal;
  }
}

Status ErrnoError(int err, const std::string& what, const std::filesystem::path& p) {
  return Status(ErrnoToCode(err), what + " '" + p.string() + "': " + ErrnoMessage(err));
}

Status FsyncPath(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "cannot open for fsync", path);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some filesystems refuse fsync on directories (EINVAL); that is not a durability loss we
  // can do anything about.
  if (rc != 0 && !(err == EINVAL && std::filesystem::is_directory(path))) {
    return ErrnoError(err, "fsync failed for", path);
  }
  return OkStatus();
}

Status WriteFileDurably(const std::filesystem::path& path, std::string_view contents,
                        std::optional<uint32_t> mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return ErrnoError(errno, "cannot create", path);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoError(err, "cannot write", path);
    }
    done += static_cast<size_t>(n);
  }
  if (mode && ::fchmod(fd, *mode) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoError(err, "cannot chmod", path);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoError(err, "fsync failed for", path);
  }
  if (::close(fd) != 0) return ErrnoError(errno, "cannot close", path);
  return OkStatus();
}

Result<std::string> ReadFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "cannot open", path);
  std::string out;
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return DataLossError("cannot read '" + path.string() + "': " + ErrnoMessage(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status CreateDirectories(const std::filesystem::path& path, std::optional<uint32_t> mode) {
  std::vector<std::filesystem::path> missing;
  for (auto p = path; !p.empty() && !std::filesystem::exists(p); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0777) != 0 && errno != EEXIST) {
      return ErrnoError(errno, "cannot create directory", *it);
    }
    if (mode && ::chmod(it->c_str(), *mode) != 0) {
      return ErrnoError(errno, "cannot chmod", *it);
    }
  }
  if (!std::filesystem::is_directory(path)) {
    return FailedPreconditionError("'" + path.string() + "' exists and is not a directory");
  }
  return OkStatus();
}

}  // namespace cairn::base
