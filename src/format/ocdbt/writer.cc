#include "format/ocdbt/writer.h"

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
// reaches the target size (TensorStore's IndirectDataWriter).
class DataFileWriter {
 public:
  DataFileWriter(fs::path root, uint64_t target, std::random_device& rd)
      : root_(std::move(root)), target_(target), rd_(rd) {}

  Result<FileRange> Append(std::string_view bytes) {
    if (name_.empty()) name_ = "d/" + RandomHex(rd_, 16);
    FileRange range{.file = {.base_path = "", .relative_path = name_},
                    .offset = buffer_.size(),
                    .length = bytes.size()};
    buffer_.append(bytes);
    if (target_ != 0 && buffer_.size() >= target_) CAIRN_RETURN_IF_ERROR(Flush());
    return range;
  }

  // Writes the open file (if any) and fsyncs d/.
  Status Finish() {
    CAIRN_RETURN_IF_ERROR(Flush());
    if (!written_.empty()) CAIRN_RETURN_IF_ERROR(base::FsyncPath(root_ / "d"));
    return OkStatus();
  }

  std::vector<std::string>& written() { return written_; }

 private:
  Status Flush() {
    if (name_.empty()) return OkStatus();
    if (written_.empty()) CAIRN_RETURN_IF_ERROR(base::CreateDirectories(root_ / "d", std::nullopt));
    CAIRN_RETURN_IF_ERROR(base::WriteFileDurably(root_ / name_, buffer_));
    written_.push_back(name_);
    name_.clear();
    buffer_.clear();
    return OkStatus();
  }

  fs::path root_;
  uint64_t target_;
  std::random_device& rd_;
  std::string name_;  // empty: no file open
  std::string buffer_;
  std::vector<std::string> written_;
};

Status Validate(const std::vector<KeyValue>& entries, const WriteOptions& o) {
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

Result<WriteResult> WriteDatabase(const fs::path& root, const std::vector<KeyValue>& entries,
                                  const WriteOptions& options) {
  CAIRN_RETURN_IF_ERROR(Validate(entries, options));
  CAIRN_RETURN_IF_ERROR(base::CreateDirectories(root, std::nullopt));
  const fs::path manifest_path = root / "manifest.ocdbt";
  std::error_code ec;
  if (fs::exists(manifest_path, ec)) {
    return AlreadyExistsError("OCDBT database already exists: '" + manifest_path.string() + "'");
  }
  std::random_device rd;
  DataFileWriter data(root, options.target_data_file_size, rd);

  Config config;
  if (options.uuid) {
    config.uuid = *options.uuid;
  } else {
    for (auto& b : config.uuid) b = static_cast<uint8_t>(rd());
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
    // Values first, then the nodes, as TensorStore orders a commit.
    std::vector<NewLeafEntry> leaves;
    leaves.reserve(entries.size());
    for (const auto& kv : entries) {
      NewLeafEntry e{.key = kv.key};
      if (kv.value.size() <= options.max_inline_value_bytes) {
        e.value = kv.value;
      } else {
        CAIRN_ASSIGN_OR_RETURN(e.value, data.Append(kv.value));
      }
      leaves.push_back(std::move(e));
    }
    const BtreeBuildOptions build{.max_decoded_node_bytes = options.max_decoded_node_bytes,
                                  .compression = CompressionOf(config)};
    CAIRN_ASSIGN_OR_RETURN(std::vector<EncodedBtreeNode> nodes, EncodeLeafLevel(leaves, build));
    uint8_t height = 0;
    while (true) {
      std::vector<NewInteriorEntry> parents;
      for (const auto& node : nodes) {
        CAIRN_ASSIGN_OR_RETURN(FileRange where, data.Append(node.encoded));
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

  const fs::path tmp = root / "manifest.ocdbt.__cairn_tmp";
  CAIRN_RETURN_IF_ERROR(base::WriteFileDurably(tmp, encoded));
  if (std::rename(tmp.c_str(), manifest_path.c_str()) != 0) {
    const int err = errno;
    fs::remove(tmp, ec);
    return base::ErrnoError(err, "rename to", manifest_path);
  }
  CAIRN_RETURN_IF_ERROR(base::FsyncPath(root));
  return WriteResult{.manifest = std::move(manifest), .data_files = std::move(data.written())};
}

}  // namespace cairn::ocdbt
