// Reference backend: each writing rank appends its pieces, densely packed, to its own file
// `ref.<rank>.bin`; a piece's location is {"file", "offset"}. Plain POSIX I/O, no collectives
// beyond what the caller does: the simplest thing that satisfies the Backend contract.
#include "storage/reference/reference_backend.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include "base/box_ops.h"
#include "base/fs.h"

namespace cairn::storage {
namespace {

using nlohmann::json;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Status WriteAll(int fd, const void* data, size_t n, const std::filesystem::path& path) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      return base::ErrnoError(err, "cannot write", path);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return OkStatus();
}

class ReferenceBackend final : public Backend {
 public:
  std::string_view name() const override { return "reference"; }

  Result<std::vector<std::vector<json>>> Write(const BackendContext& ctx,
                                               std::span<const WriteLeaf> leaves) override {
    std::vector<std::vector<json>> locations(leaves.size());
    bool any = false;
    for (const auto& leaf : leaves) any = any || !leaf.pieces.empty();
    if (!any) {
      for (size_t i = 0; i < leaves.size(); ++i) locations[i].clear();
      return locations;
    }
    const std::string file = "ref." + std::to_string(ctx.comm->rank()) + ".bin";
    const std::filesystem::path path = ctx.item_dir / file;
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
    if (fd.get() < 0) {
      int err = errno;
      return base::ErrnoError(err, "cannot create", path);
    }
    int64_t offset = 0;
    for (size_t i = 0; i < leaves.size(); ++i) {
      const size_t elem = DTypeSize(leaves[i].dtype);
      for (const WritePiece& piece : leaves[i].pieces) {
        const size_t bytes = static_cast<size_t>(piece.box.NumElements()) * elem;
        CAIRN_ASSIGN_OR_RETURN(PieceBytes src, PieceBytes::Acquire(piece));
        CAIRN_RETURN_IF_ERROR(WriteAll(fd.get(), src.data(), bytes, path)
                                  .WithContext("key '" + leaves[i].key_path + "'"));
        locations[i].push_back(json{{"file", file}, {"offset", offset}});
        offset += static_cast<int64_t>(bytes);
      }
    }
    if (ctx.file_mode) ::fchmod(fd.get(), *ctx.file_mode);
    if (::fsync(fd.get()) != 0) {
      int err = errno;
      return base::ErrnoError(err, "fsync failed for", path);
    }
    return locations;
  }

  Status Read(const BackendContext& ctx, std::span<const ReadLeaf> leaves) override {
    std::map<std::string, std::unique_ptr<Fd>> files;
    for (const ReadLeaf& leaf : leaves) {
      const size_t elem = DTypeSize(leaf.dtype);
      for (const ReadRequest& req : leaf.requests) {
        const auto bad = [&](const std::string& what) {
          return DataLossError("key '" + leaf.key_path + "' in '" + ctx.item_dir.string() +
                               "': " + what);
        };
        if (!req.location || !req.location->is_object() || !req.location->contains("file") ||
            !req.location->contains("offset") || !(*req.location)["file"].is_string() ||
            !(*req.location)["offset"].is_number_integer()) {
          return bad("piece " + req.stored_box.ToString() + " has no valid location");
        }
        const std::string file = (*req.location)["file"].get<std::string>();
        const int64_t offset = (*req.location)["offset"].get<int64_t>();
        if (file.find('/') != std::string::npos || offset < 0) {
          return bad("piece location '" + file + "' is not a file of this item");
        }
        const std::filesystem::path path = ctx.item_dir / file;
        auto& fd = files[file];
        if (!fd) {
          fd = std::make_unique<Fd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
          if (fd->get() < 0) {
            return DataLossError("key '" + leaf.key_path + "': cannot open '" + path.string() +
                                 "': " + base::ErrnoMessage(errno));
          }
        }
        struct stat st {};
        ::fstat(fd->get(), &st);
        const int64_t piece_bytes = req.stored_box.NumElements() * static_cast<int64_t>(elem);
        if (offset + piece_bytes > st.st_size) {
          return DataLossError("key '" + leaf.key_path + "': '" + path.string() +
                               "' is truncated (" + std::to_string(st.st_size) +
                               " bytes, piece needs " + std::to_string(offset + piece_bytes) + ")");
        }
        auto* dest = static_cast<char*>(req.dest);
        Status status;
        int64_t written = 0;
        base::ForEachRun(req.stored_box, req.box, [&](int64_t off, int64_t len) {
          if (!status.ok()) return;
          size_t n = static_cast<size_t>(len) * elem;
          off_t pos = offset + off * static_cast<int64_t>(elem);
          char* out = dest + written * static_cast<int64_t>(elem);
          while (n > 0) {
            ssize_t r = ::pread(fd->get(), out, n, pos);
            if (r <= 0) {
              if (r < 0 && errno == EINTR) continue;
              status = DataLossError("key '" + leaf.key_path + "': short read from '" +
                                     path.string() + "'");
              return;
            }
            out += r;
            pos += r;
            n -= static_cast<size_t>(r);
          }
          written += len;
        });
        CAIRN_RETURN_IF_ERROR(status);
        if (req.on_filled) req.on_filled();
      }
    }
    return OkStatus();
  }
};

}  // namespace

std::unique_ptr<Backend> MakeReferenceBackend() { return std::make_unique<ReferenceBackend>(); }

}  // namespace cairn::storage
