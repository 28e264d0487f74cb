#include "format/ocdbt/writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <random>
#include <system_error>

#include "base/fs.h"
#include "format/ocdbt/btree.h"
#include "format/ocdbt/btree_builder.h"
#include "format/ocdbt/encode.h"

namespace cairn::ocdbt {
namespace {

namespace fs = std::filesystem;

std::string RandomHex(std::random_device& rd, size_t bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  while (out.size() < 2 * bytes) {
    const uint32_t r = rd();
    for (int i = 0; i < 8 && out.size() < 2 * bytes; ++i)
      out.push_back(kDigits[(r >> (4 * i)) & 15]);
  }
  return out;
}

// Appends values and nodes to data files under d/, starting a new file once the current one
// reaches the target size (TensorStore's IndirectDataWriter). Bytes go through a small buffer;
// a value at least the buffer's size is written straight from the caller's memory, so a large
// value is neither copied nor held. Each file is fsynced when it is closed.
class DataFileWriter {
 public:
  static constexpr size_t kBufferBytes = size_t{8} << 20;

  DataFileWriter(fs::path root, uint64_t target, std::random_device& rd)
      : root_(std::move(root)), target_(target), rd_(rd) {}
  DataFileWriter(const DataFileWriter&) = delete;
  DataFileWriter& operator=(const DataFileWriter&) = delete;
  ~DataFileWriter() {
    if (fd_ >= 0) ::close(fd_);
  }

  Result<FileRange> Append(std::span<const std::string_view> parts) {
    if (fd_ < 0) CAIRN_RETURN_IF_ERROR(Open());
    uint64_t length = 0;
    for (std::string_view p : parts) length += p.size();
    FileRange range{
        .file = {.base_path = "", .relative_path = name_}, .offset = size_, .length = length};
    if (length >= kBufferBytes) {
      // Large: what is buffered, then the parts straight from the caller's memory.
      CAIRN_RETURN_IF_ERROR(FlushBuffer());
      for (std::string_view p : parts) CAIRN_RETURN_IF_ERROR(WriteAll(p));
    } else {
      if (buffer_.size() + length > kBufferBytes) CAIRN_RETURN_IF_ERROR(FlushBuffer());
      if (buffer_.capacity() < kBufferBytes) buffer_.reserve(kBufferBytes);
      for (std::string_view p : parts) buffer_.append(p);
    }
    size_ += length;
    if (target_ != 0 && size_ >= target_) CAIRN_RETURN_IF_ERROR(Close());
    return range;
  }

  // Closes the open file (if any) and fsyncs d/.
  Status Finish() {
    CAIRN_RETURN_IF_ERROR(Close());
    if (!written_.empty()) CAIRN_RETURN_IF_ERROR(base::FsyncPath(root_ / "d"));
    return OkStatus();
  }

  std::vector<std::string>& written() { return written_; }

 private:
  Status Open() {
    if (!made_dir_) {
      CAIRN_RETURN_IF_ERROR(base::CreateDirectories(root_ / "d", std::nullopt));
      made_dir_ = true;
    }
    name_ = "d/" + RandomHex(rd_, 16);
    const fs::path path = root_ / name_;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) return base::ErrnoError(errno, "cannot create", path);
    size_ = 0;
    return OkStatus();
  }

  Status WriteAll(std::string_view bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      // Linux writes at most ~2 GiB per call; larger requests return short counts.
      const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return base::ErrnoError(errno, "cannot write", root_ / name_);
      }
      done += static_cast<size_t>(n);
    }
    return OkStatus();
  }

  Status FlushBuffer() {
    if (buffer_.empty()) return OkStatus();
    CAIRN_RETURN_IF_ERROR(WriteAll(buffer_));
    buffer_.clear();
    return OkStatus();
  }

  Status Close() {
    if (fd_ < 0) return OkStatus();
    CAIRN_RETURN_IF_ERROR(FlushBuffer());
    const fs::path path = root_ / name_;
    if (::fsync(fd_) != 0) return base::ErrnoError(errno, "fsync failed for", path);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return base::ErrnoError(errno, "cannot close", path);
    written_.push_back(name_);
    name_.clear();
    return OkStatus();
  }

  fs::path root_;
  uint64_t target_;
  std::random_device& rd_;
  bool made_dir_ = false;
  int fd_ = -1;        // -1: no file open
  std::string name_;   // of the open file
  uint64_t size_ = 0;  // bytes appended to the open file, buffered ones included
  std::string buffer_;
  std::vector<std::string> written_;
};

Status ValidateOptions(const WriteOptions& o) {
  if (o.max_inline_value_bytes > kMaxInlineValueBytes) {
    return InvalidArgumentError("max_inline_value_bytes " +
                                std::to_string(o.max_inline_value_bytes) + " exceeds " +
                                std::to_string(kMaxInlineValueBytes));
  }
  if (o.max_decoded_node_bytes == 0) {
    return InvalidArgumentError("max_decoded_node_bytes must be positive");
  }
  if (o.version_tree_arity_log2 < 1 || o.version_tree_arity_log2 > kMaxVersionTreeArityLog2) {
    return InvalidArgumentError("version_tree_arity_log2 " +
                                std::to_string(o.version_tree_arity_log2) + " outside [1, 16]");
  }
  if (o.use_zstd && (o.zstd_level < -131072 || o.zstd_level > 22)) {
    return InvalidArgumentError("zstd_level " + std::to_string(o.zstd_level) +
                                " outside [-131072, 22]");
  }
  return OkStatus();
}

template <typename Entry>
Status ValidateKeys(const std::vector<Entry>& entries) {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].key.size() > kMaxKeyLength) {
      return InvalidArgumentError("key '" + entries[i].key.substr(0, 100) + "...' is longer than " +
                                  std::to_string(kMaxKeyLength) + " bytes");
    }
    if (i > 0 && !(entries[i - 1].key < entries[i].key)) {
      return InvalidArgumentError("keys must be strictly increasing: '" + entries[i].key +
                                  "' follows '" + entries[i - 1].key + "'");
    }
  }
  return OkStatus();
}

uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

struct DatabaseBuilder::Impl {
  Impl(fs::path r, WriteOptions o)
      : root(std::move(r)), options(std::move(o)), data(root, options.target_data_file_size, rd) {}
  fs::path root;
  WriteOptions options;
  std::random_device rd;
  DataFileWriter data;
  bool finished = false;
};

DatabaseBuilder::DatabaseBuilder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DatabaseBuilder::DatabaseBuilder(DatabaseBuilder&&) noexcept = default;
DatabaseBuilder& DatabaseBuilder::operator=(DatabaseBuilder&&) noexcept = default;
DatabaseBuilder::~DatabaseBuilder() = default;

Result<DatabaseBuilder> DatabaseBuilder::Create(const fs::path& root, const WriteOptions& options) {
  CAIRN_RETURN_IF_ERROR(ValidateOptions(options));
  CAIRN_RETURN_IF_ERROR(base::CreateDirectories(root, std::nullopt));
  const fs::path manifest_path = root / "manifest.ocdbt";
  std::error_code ec;
  if (fs::exists(manifest_path, ec)) {
    return AlreadyExistsError("OCDBT database already exists: '" + manifest_path.string() + "'");
  }
  return DatabaseBuilder(std::make_unique<Impl>(root, options));
}

Result<StoredValue> DatabaseBuilder::AppendValue(std::span<const std::string_view> parts) {
  uint64_t length = 0;
  for (std::string_view p : parts) length += p.size();
  if (length <= impl_->options.max_inline_value_bytes) {
    std::string inline_value;
    inline_value.reserve(length);
    for (std::string_view p : parts) inline_value.append(p);
    return StoredValue(std::move(inline_value));
  }
  CAIRN_ASSIGN_OR_RETURN(FileRange where, impl_->data.Append(parts));
  return StoredValue(std::move(where));
}

Result<WriteResult> DatabaseBuilder::Finish(std::vector<NewLeafEntry> entries) {
  if (impl_->finished) return FailedPreconditionError("OCDBT database builder already finished");
  impl_->finished = true;
  CAIRN_RETURN_IF_ERROR(ValidateKeys(entries));
  const WriteOptions& options = impl_->options;
  const fs::path& root = impl_->root;
  DataFileWriter& data = impl_->data;
  const auto append = [&](std::string_view bytes) {
    return data.Append(std::span<const std::string_view>(&bytes, 1));
  };

  Config config;
  if (options.uuid) {
    config.uuid = *options.uuid;
  } else {
    for (auto& b : config.uuid) b = static_cast<uint8_t>(impl_->rd());
  }
  config.manifest_kind = ManifestKind::kSingle;
  config.max_inline_value_bytes = options.max_inline_value_bytes;
  config.max_decoded_node_bytes = options.max_decoded_node_bytes;
  config.version_tree_arity_log2 = options.version_tree_arity_log2;
  config.zstd = options.use_zstd;
  config.zstd_level = options.use_zstd ? options.zstd_level : 0;

  GenerationRef generation{.generation_number = 1,
                           .root = {.file = 0, .offset = UINT64_MAX, .length = UINT64_MAX},
                           .commit_time_ns = options.commit_time_ns.value_or(NowNs())};
  Manifest manifest{.config = config};
  if (!entries.empty()) {
    // The values are already placed; the nodes follow them, as TensorStore orders a commit.
    const BtreeBuildOptions build{.max_decoded_node_bytes = options.max_decoded_node_bytes,
                                  .compression = CompressionOf(config)};
    CAIRN_ASSIGN_OR_RETURN(std::vector<EncodedBtreeNode> nodes, EncodeLeafLevel(entries, build));
    entries.clear();
    entries.shrink_to_fit();
    uint8_t height = 0;
    while (true) {
      std::vector<NewInteriorEntry> parents;
      for (const auto& node : nodes) {
        CAIRN_ASSIGN_OR_RETURN(FileRange where, append(node.encoded));
        parents.push_back(ParentEntry(node, std::move(where)));
      }
      if (parents.size() == 1) {
        const NewInteriorEntry& root_entry = parents[0];
        manifest.files = {root_entry.child.file};
        generation.root_height = height;
        generation.root = {
            .file = 0, .offset = root_entry.child.offset, .length = root_entry.child.length};
        generation.stats = root_entry.stats;
        break;
      }
      if (height == UINT8_MAX) return InternalError("B+tree height limit (255) exceeded");
      ++height;
      CAIRN_ASSIGN_OR_RETURN(nodes, EncodeInteriorLevel(parents, height, build));
    }
  }
  CAIRN_RETURN_IF_ERROR(data.Finish());
  manifest.versions = {generation};
  CAIRN_ASSIGN_OR_RETURN(std::string encoded, EncodeManifest(manifest));

  const fs::path manifest_path = root / "manifest.ocdbt";
  const fs::path tmp = root / "manifest.ocdbt.__cairn_tmp";
  CAIRN_RETURN_IF_ERROR(base::WriteFileDurably(tmp, encoded));
  if (std::rename(tmp.c_str(), manifest_path.c_str()) != 0) {
    const int err = errno;
    std::error_code ec;
    fs::remove(tmp, ec);
    return base::ErrnoError(err, "rename to", manifest_path);
  }
  CAIRN_RETURN_IF_ERROR(base::FsyncPath(root));
  return WriteResult{.manifest = std::move(manifest), .data_files = std::move(data.written())};
}

Result<WriteResult> WriteDatabase(const fs::path& root, const std::vector<KeyValue>& entries,
                                  const WriteOptions& options) {
  CAIRN_RETURN_IF_ERROR(ValidateOptions(options));
  CAIRN_RETURN_IF_ERROR(ValidateKeys(entries));
  CAIRN_ASSIGN_OR_RETURN(DatabaseBuilder builder, DatabaseBuilder::Create(root, options));
  // Values in key order, then the nodes (the layout TensorStore's writer produces).
  std::vector<NewLeafEntry> leaves;
  leaves.reserve(entries.size());
  for (const auto& kv : entries) {
    CAIRN_ASSIGN_OR_RETURN(StoredValue value, builder.AppendValue(kv.value));
    leaves.push_back({.key = kv.key, .value = std::move(value)});
  }
  return builder.Finish(std::move(leaves));
}

}  // namespace cairn::ocdbt
