#include "format/ocdbt/btree_builder.h"

#include <algorithm>
#include <limits>
#include <type_traits>

#include "format/ocdbt/btree.h"
#include "format/ocdbt/encode.h"

namespace cairn::ocdbt {
namespace {

size_t CommonPrefix(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

uint64_t AddSaturate(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

// TensorStore's size estimates of a decoded entry, key excluded (kLeafNodeFixedSize = 16;
// kInteriorNodeFixedSize = 32 + sizeof(BtreeNodeStatistics) = 56; an indirect value counts
// offset, length and the file id's length). They choose the split points, so they must match.
size_t EstimateSize(const NewLeafEntry& e) {
  if (const auto* s = std::get_if<std::string>(&e.value)) return 16 + s->size();
  const auto& f = std::get<FileRange>(e.value).file;
  return 16 + 16 + f.base_path.size() + f.relative_path.size();
}
size_t EstimateSize(const NewInteriorEntry& e) {
  return 56 + e.child.file.base_path.size() + e.child.file.relative_path.size();
}

IndirectRef AddFile(std::vector<DataFileId>& files, const FileRange& range) {
  files.push_back(range.file);
  return {.file = files.size() - 1, .offset = range.offset, .length = range.length};
}

// One node from entries [begin, end): TensorStore's EncodeEntries.
template <typename Entry>
Result<EncodedBtreeNode> EncodeRange(const std::vector<Entry>& entries, size_t begin, size_t end,
                                     uint8_t height, bool is_root,
                                     const BtreeBuildOptions& options) {
  constexpr bool kLeaf = std::is_same_v<Entry, NewLeafEntry>;
  EncodedBtreeNode out;
  uint64_t max_excluded = is_root ? 0 : std::numeric_limits<uint64_t>::max();
  if constexpr (!kLeaf) {
    for (size_t i = begin; i < end; ++i) {
      max_excluded = std::min(max_excluded, entries[i].subtree_common_prefix_length);
    }
  }
  if (!is_root) out.inclusive_min_key = entries[begin].key;
  out.excluded_prefix_length =
      max_excluded == 0 ? 0
                        : std::min<uint64_t>(
                              max_excluded, CommonPrefix(entries[begin].key, entries[end - 1].key));
  const size_t excluded = out.excluded_prefix_length;

  BtreeNode node;
  node.height = height;
  for (size_t i = begin; i < end; ++i) {
    const Entry& e = entries[i];
    if constexpr (kLeaf) {
      BtreeLeafEntry leaf{.key = e.key.substr(excluded)};
      if (const auto* s = std::get_if<std::string>(&e.value)) {
        leaf.value = *s;
      } else {
        const auto& range = std::get<FileRange>(e.value);
        leaf.value = AddFile(node.files, range);
        out.stats.num_indirect_value_bytes =
            AddSaturate(out.stats.num_indirect_value_bytes, range.length);
      }
      node.leaf_entries.push_back(std::move(leaf));
    } else {
      node.interior_entries.push_back(BtreeInteriorEntry{
          .key = e.key.substr(excluded),
          .subtree_common_prefix_length = e.subtree_common_prefix_length - excluded,
          .child = AddFile(node.files, e.child),
          .stats = e.stats});
      out.stats.num_keys += e.stats.num_keys;
      out.stats.num_tree_bytes += e.stats.num_tree_bytes;
      out.stats.num_indirect_value_bytes =
          AddSaturate(out.stats.num_indirect_value_bytes, e.stats.num_indirect_value_bytes);
    }
  }
  if constexpr (kLeaf) out.stats.num_keys = end - begin;
  CAIRN_ASSIGN_OR_RETURN(out.encoded, EncodeBtreeNode(node, options.compression));
  out.stats.num_tree_bytes += out.encoded.size();
  return out;
}

// TensorStore's BtreeNodeEncoder::Finalize: split into ceil(estimate / max) nodes of about equal
// estimated size.
template <typename Entry>
Result<std::vector<EncodedBtreeNode>> EncodeLevel(const std::vector<Entry>& entries, uint8_t height,
                                                  const BtreeBuildOptions& options,
                                                  bool may_be_root) {
  constexpr size_t kMinArity = std::is_same_v<Entry, NewLeafEntry> ? 1 : 2;
  const size_t n = entries.size();
  if (n == 0) return InvalidArgumentError("a B+tree level needs at least one entry");
  std::vector<size_t> cumulative(n);
  size_t common_prefix = entries[0].key.size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) {
      if (!(entries[i - 1].key < entries[i].key)) {
        return InvalidArgumentError("B+tree keys not strictly increasing at '" + entries[i].key +
                                    "'");
      }
      common_prefix = std::min(common_prefix, CommonPrefix(entries[i - 1].key, entries[i].key));
    }
    cumulative[i] = (i ? cumulative[i - 1] : 0) + entries[i].key.size() + EstimateSize(entries[i]);
  }
  const uint64_t max_bytes = options.max_decoded_node_bytes;
  std::vector<EncodedBtreeNode> nodes;
  size_t start = 0, prev_size = 0;
  const auto range_size = [&](size_t end) {
    return (cumulative[end - 1] - prev_size) - (end - start - 1) * common_prefix;
  };
  while (start < n) {
    const size_t upper = range_size(n);
    size_t num_nodes = (n - start + kMinArity - 1) / kMinArity;
    if (max_bytes != 0) {
      num_nodes = std::min<size_t>(num_nodes, (upper + max_bytes - 1) / max_bytes);
    }
    const size_t target = (upper + num_nodes - 1) / num_nodes;
    size_t end;
    for (end = start + 1; end < n; ++end) {
      if (end - start >= kMaxNodeArity) break;
      const size_t size = range_size(end);
      if (size >= target && end >= start + kMinArity) {
        if (size > max_bytes && end > start + kMinArity) --end;
        break;
      }
    }
    CAIRN_ASSIGN_OR_RETURN(
        EncodedBtreeNode node,
        EncodeRange(entries, start, end, height, may_be_root && start == 0 && end == n, options));
    nodes.push_back(std::move(node));
    start = end;
    prev_size = cumulative[end - 1];
  }
  return nodes;
}

}  // namespace

Result<std::vector<EncodedBtreeNode>> EncodeLeafLevel(const std::vector<NewLeafEntry>& entries,
                                                      const BtreeBuildOptions& options,
                                                      bool may_be_root) {
  return EncodeLevel(entries, 0, options, may_be_root);
}

Result<std::vector<EncodedBtreeNode>> EncodeInteriorLevel(
    const std::vector<NewInteriorEntry>& entries, uint8_t height, const BtreeBuildOptions& options,
    bool may_be_root) {
  if (height == 0) return InvalidArgumentError("interior B+tree nodes have height >= 1");
  return EncodeLevel(entries, height, options, may_be_root);
}

NewInteriorEntry ParentEntry(const EncodedBtreeNode& node, FileRange location) {
  return {.key = node.inclusive_min_key,
          .subtree_common_prefix_length = node.excluded_prefix_length,
          .child = std::move(location),
          .stats = node.stats};
}

}  // namespace cairn::ocdbt
