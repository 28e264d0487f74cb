#include "format/ocdbt/read_view.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/fs.h"

namespace cairn::ocdbt {
namespace {

std::string Str(uint64_t v) { return std::to_string(v); }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Result<std::string> ReadWholeFile(const std::filesystem::path& path) {
  return base::ReadFile(path);
}

// manifest.<16 lowercase hex> -> generation number.
std::optional<uint64_t> NumberedManifestGeneration(const std::string& name) {
  constexpr std::string_view kPrefix = "manifest.";
  if (name.size() != kPrefix.size() + 16 || name.compare(0, kPrefix.size(), kPrefix) != 0) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (size_t i = kPrefix.size(); i < name.size(); ++i) {
    const char c = name[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

}  // namespace

Result<std::string> ReadView::ReadRange(const DataFileId& file, uint64_t offset,
                                        uint64_t length) const {
  const std::string rel = file.FullPath();
  if (!SafeRelativePath(rel)) {
    return DataLossError((root_ / "manifest.ocdbt").string() + ": data file path \"" + rel +
                         "\" is not a relative path inside the database");
  }
  const std::filesystem::path path = root_ / rel;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return DataLossError("data file '" + path.string() +
                           "' referenced by the database is missing");
    }
    return base::ErrnoError(err, "open", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return base::ErrnoError(errno, "fstat", path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset > size || length > size - offset) {
    return DataLossError(path.string() + ": range [" + Str(offset) + ", +" + Str(length) +
                         ") passes the end of the file (" + Str(size) + " bytes)");
  }
  std::string out(length, '\0');
  uint64_t done = 0;
  while (done < length) {
    const ssize_t n =
        ::pread(fd.get(), out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoError(errno, "pread", path);
    }
    if (n == 0) return DataLossError(path.string() + ": file shrank while reading");
    done += static_cast<uint64_t>(n);
  }
  return out;
}

Result<ReadView> ReadView::Open(const std::filesystem::path& root, const DecodeOptions& options) {
  ReadView view;
  view.root_ = root;
  view.options_ = options;
  const std::filesystem::path manifest_path = root / "manifest.ocdbt";
  CAIRN_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(manifest_path));
  CAIRN_ASSIGN_OR_RETURN(view.manifest_,
                         DecodeManifest(bytes, Source{manifest_path.string()}, options));
  if (view.manifest_.config_only()) {
    // Kind numbered: the newest manifest.<16 hex> holds the versions.
    std::optional<uint64_t> newest;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
      if (auto g = NumberedManifestGeneration(entry.path().filename().string())) {
        newest = std::max(newest.value_or(0), *g);
      }
    }
    if (ec) return base::ErrnoError(ec.value(), "list", root);
    if (!newest) {
      return DataLossError(manifest_path.string() +
                           ": kind numbered, but no manifest.<16 hex> file exists");
    }
    char name[32];
    std::snprintf(name, sizeof(name), "manifest.%016llx", static_cast<unsigned long long>(*newest));
    const std::filesystem::path numbered = root / name;
    CAIRN_ASSIGN_OR_RETURN(std::string nbytes, ReadWholeFile(numbered));
    CAIRN_ASSIGN_OR_RETURN(Manifest m, DecodeManifest(nbytes, Source{numbered.string()}, options));
    if (m.config_only()) return DataLossError(numbered.string() + ": holds no versions");
    if (m.config.uuid != view.manifest_.config.uuid) {
      return DataLossError(numbered.string() + ": uuid differs from manifest.ocdbt's");
    }
    if (m.versions.back().generation_number != *newest) {
      return DataLossError(numbered.string() + ": newest generation is " +
                           Str(m.versions.back().generation_number));
    }
    view.manifest_ = std::move(m);
  }
  view.generation_ = view.manifest_.versions.back();
  view.root_file_ = view.manifest_.files[view.generation_.root.file];
  return view;
}

Status ReadView::CollectGenerations(const DataFileId& file, const VersionNodeRef& ref,
                                    std::vector<GenerationInfo>* out) const {
  CAIRN_ASSIGN_OR_RETURN(std::string bytes,
                         ReadRange(file, ref.location.offset, ref.location.length));
  const Source source{(root_ / file.FullPath()).string(), ref.location.offset};
  CAIRN_ASSIGN_OR_RETURN(VersionTreeNode node,
                         DecodeVersionTreeNode(bytes, source, file.base_path, options_));
  const uint64_t last = node.height == 0 ? node.leaf_entries.back().generation_number
                                         : node.interior_entries.back().generation_number;
  if (node.height != ref.height || node.arity_log2 != manifest_.config.version_tree_arity_log2 ||
      last != ref.generation_number) {
    return SourceError(source, "version-tree node has height " + Str(node.height) +
                                   ", arity_log2 " + Str(node.arity_log2) + ", last generation " +
                                   Str(last) + "; its reference says " + Str(ref.height) + ", " +
                                   Str(manifest_.config.version_tree_arity_log2) + ", " +
                                   Str(ref.generation_number));
  }
  if (node.height == 0) {
    for (const auto& g : node.leaf_entries) out->push_back({g, node.files[g.root.file]});
    return OkStatus();
  }
  for (const auto& child : node.interior_entries) {
    CAIRN_RETURN_IF_ERROR(CollectGenerations(node.files[child.location.file], child, out));
  }
  return OkStatus();
}

Result<std::vector<GenerationInfo>> ReadView::ListGenerations() const {
  std::vector<GenerationInfo> out;
  for (const auto& ref : manifest_.version_nodes) {
    CAIRN_RETURN_IF_ERROR(CollectGenerations(manifest_.files[ref.location.file], ref, &out));
  }
  for (const auto& g : manifest_.versions) out.push_back({g, manifest_.files[g.root.file]});
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].ref.generation_number <= out[i - 1].ref.generation_number) {
      return DataLossError((root_ / "manifest.ocdbt").string() +
                           ": version tree generations not increasing at " +
                           Str(out[i].ref.generation_number));
    }
  }
  return out;
}

Result<ReadView> ReadView::AtGeneration(uint64_t generation_number) const {
  CAIRN_ASSIGN_OR_RETURN(std::vector<GenerationInfo> all, ListGenerations());
  for (const auto& g : all) {
    if (g.ref.generation_number != generation_number) continue;
    ReadView view = *this;
    view.generation_ = g.ref;
    view.root_file_ = g.root_file;
    return view;
  }
  return NotFoundError((root_ / "manifest.ocdbt").string() + ": no generation " +
                       Str(generation_number));
}

Result<BtreeNode> ReadView::ReadNode(const DataFileId& file, const IndirectRef& ref,
                                     uint8_t expected_height,
                                     std::string_view inclusive_min) const {
  CAIRN_ASSIGN_OR_RETURN(std::string bytes, ReadRange(file, ref.offset, ref.length));
  const Source source{(root_ / file.FullPath()).string(), ref.offset};
  CAIRN_ASSIGN_OR_RETURN(BtreeNode node, DecodeBtreeNode(bytes, source, file.base_path, options_));
  if (node.height != expected_height) {
    return SourceError(source, "B+tree node has height " + Str(node.height) + ", expected " +
                                   Str(expected_height));
  }
  const std::string& first =
      node.height == 0 ? node.leaf_entries.front().key : node.interior_entries.front().key;
  if (first < inclusive_min) {
    return SourceError(source, "first key of the B+tree node sorts before its parent's key");
  }
  return node;
}

Result<std::optional<ReadView::Located>> ReadView::Locate(std::string_view key) const {
  if (generation_.root.IsMissing()) return std::optional<Located>();
  CAIRN_ASSIGN_OR_RETURN(BtreeNode node,
                         ReadNode(root_file_, generation_.root, generation_.root_height, ""));
  std::string_view rest = key;
  while (node.height > 0) {
    const auto& entries = node.interior_entries;
    // The last entry whose key is <= rest.
    auto it = std::upper_bound(entries.begin(), entries.end(), rest,
                               [](std::string_view k, const BtreeInteriorEntry& e) {
                                 return k < std::string_view(e.key);
                               });
    if (it == entries.begin()) return std::optional<Located>();
    const auto& e = *(it - 1);
    const std::string_view common =
        std::string_view(e.key).substr(0, e.subtree_common_prefix_length);
    if (rest.substr(0, common.size()) != common) return std::optional<Located>();
    rest.remove_prefix(common.size());
    CAIRN_ASSIGN_OR_RETURN(
        node, ReadNode(node.files[e.child.file], e.child, static_cast<uint8_t>(node.height - 1),
                       std::string_view(e.key).substr(common.size())));
  }
  auto& leaves = node.leaf_entries;
  auto it = std::lower_bound(
      leaves.begin(), leaves.end(), rest,
      [](const BtreeLeafEntry& e, std::string_view k) { return std::string_view(e.key) < k; });
  if (it == leaves.end() || it->key != rest) return std::optional<Located>();
  Located found{.entry = std::move(*it), .file = {}};
  if (!found.entry.is_inline()) found.file = node.files[std::get<IndirectRef>(found.entry.value).file];
  return std::optional<Located>(std::move(found));
}

Result<std::optional<std::string>> ReadView::Get(std::string_view key) const {
  CAIRN_ASSIGN_OR_RETURN(std::optional<Located> found, Locate(key));
  if (!found) return std::optional<std::string>();
  if (found->entry.is_inline()) {
    return std::optional<std::string>(std::move(std::get<std::string>(found->entry.value)));
  }
  const IndirectRef& ref = std::get<IndirectRef>(found->entry.value);
  CAIRN_ASSIGN_OR_RETURN(std::string value, ReadRange(found->file, ref.offset, ref.length));
  return std::optional<std::string>(std::move(value));
}

Status ReadView::ListRecursive(const BtreeNode& node, const std::string& node_prefix,
                               std::string_view prefix, std::vector<std::string>* out) const {
  if (node.height == 0) {
    for (const auto& e : node.leaf_entries) {
      std::string key = node_prefix + e.key;
      if (std::string_view(key).substr(0, prefix.size()) == prefix) out->push_back(std::move(key));
    }
    return OkStatus();
  }
  for (const auto& e : node.interior_entries) {
    const std::string child_prefix = node_prefix + e.key.substr(0, e.subtree_common_prefix_length);
    // Every key below starts with child_prefix: skip the child unless it can match `prefix`.
    const size_t n = std::min(child_prefix.size(), prefix.size());
    if (child_prefix.compare(0, n, prefix.substr(0, n)) != 0) continue;
    CAIRN_ASSIGN_OR_RETURN(
        BtreeNode child,
        ReadNode(node.files[e.child.file], e.child, static_cast<uint8_t>(node.height - 1),
                 std::string_view(e.key).substr(e.subtree_common_prefix_length)));
    CAIRN_RETURN_IF_ERROR(ListRecursive(child, child_prefix, prefix, out));
  }
  return OkStatus();
}

Result<std::vector<std::string>> ReadView::ListKeys(std::string_view prefix) const {
  std::vector<std::string> out;
  if (generation_.root.IsMissing()) return out;
  CAIRN_ASSIGN_OR_RETURN(BtreeNode root,
                         ReadNode(root_file_, generation_.root, generation_.root_height, ""));
  CAIRN_RETURN_IF_ERROR(ListRecursive(root, "", prefix, &out));
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i] <= out[i - 1]) {
      return DataLossError((root_ / "manifest.ocdbt").string() +
                           ": B+tree keys out of order at \"" + out[i] + "\"");
    }
  }
  return out;
}

// A relative path that stays inside the root: no leading '/', no "." or ".." segments.
bool SafeRelativePath(std::string_view p) {
  if (p.empty() || p.front() == '/') return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    const std::string_view seg = p.substr(start, end - start);
    if (seg == ".." || seg == ".") return false;
    if (seg.empty() && end != p.size()) return false;  // "a//b"
    start = end + 1;
  }
  return p.find('\0') == std::string_view::npos;
}

}  // namespace cairn::ocdbt
