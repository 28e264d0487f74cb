#include "format/ocdbt/value_ref.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/fs.h"
#include "format/ocdbt/btree.h"

namespace cairn::ocdbt {
namespace {

std::string Str(uint64_t v) { return std::to_string(v); }

Result<BtreeNode> ReadNode(const ReadView& view, const DataFileId& file, const IndirectRef& ref,
                           uint8_t expected_height, std::string_view inclusive_min) {
  CAIRN_ASSIGN_OR_RETURN(std::string bytes, view.ReadRange(file, ref.offset, ref.length));
  const Source source{(view.root() / file.FullPath()).string(), ref.offset};
  CAIRN_ASSIGN_OR_RETURN(BtreeNode node, DecodeBtreeNode(bytes, source, file.base_path));
  if (node.height != expected_height) {
    return DataLossError(source.name + " at " + Str(ref.offset) + ": B+tree node has height " +
                         Str(node.height) + ", expected " + Str(expected_height));
  }
  const std::string& first =
      node.height == 0 ? node.leaf_entries.front().key : node.interior_entries.front().key;
  if (first < inclusive_min) {
    return DataLossError(source.name + " at " + Str(ref.offset) +
                         ": first key of the B+tree node sorts before its parent's key");
  }
  return node;
}

}  // namespace

Result<std::optional<ValueRef>> GetValueRef(const ReadView& view, std::string_view key) {
  const GenerationRef& g = view.generation();
  if (g.root.IsMissing()) return std::optional<ValueRef>();
  // The root's file: from the manifest's table when the generation is recorded there.
  const Manifest& manifest = view.manifest();
  const auto recorded = std::find_if(
      manifest.versions.begin(), manifest.versions.end(),
      [&](const GenerationRef& v) { return v.generation_number == g.generation_number; });
  if (recorded == manifest.versions.end() || g.root.file >= manifest.files.size()) {
    return UnimplementedError("GetValueRef: generation " + Str(g.generation_number) +
                              " is not recorded in the manifest");
  }
  CAIRN_ASSIGN_OR_RETURN(BtreeNode node,
                         ReadNode(view, manifest.files[g.root.file], g.root, g.root_height, ""));
  std::string_view rest = key;
  while (node.height > 0) {
    const auto& entries = node.interior_entries;
    auto it = std::upper_bound(entries.begin(), entries.end(), rest,
                               [](std::string_view k, const BtreeInteriorEntry& e) {
                                 return k < std::string_view(e.key);
                               });
    if (it == entries.begin()) return std::optional<ValueRef>();
    const auto& e = *(it - 1);
    const std::string_view common =
        std::string_view(e.key).substr(0, e.subtree_common_prefix_length);
    if (rest.substr(0, common.size()) != common) return std::optional<ValueRef>();
    rest.remove_prefix(common.size());
    CAIRN_ASSIGN_OR_RETURN(node, ReadNode(view, node.files[e.child.file], e.child,
                                          static_cast<uint8_t>(node.height - 1),
                                          std::string_view(e.key).substr(common.size())));
  }
  const auto& leaves = node.leaf_entries;
  auto it = std::lower_bound(
      leaves.begin(), leaves.end(), rest,
      [](const BtreeLeafEntry& e, std::string_view k) { return std::string_view(e.key) < k; });
  if (it == leaves.end() || it->key != rest) return std::optional<ValueRef>();
  if (it->is_inline()) return std::optional<ValueRef>(std::get<std::string>(it->value));
  const auto& ref = std::get<IndirectRef>(it->value);
  return std::optional<ValueRef>(
      FileRange{.file = node.files[ref.file], .offset = ref.offset, .length = ref.length});
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
