#pragma once
/// OCDBT B+tree nodes (spec 1.10, magic 0x0CDB20DE). Keys in a node are relative to the node's
/// implicit prefix (empty at the root; for a child, the parent's prefix plus the first
/// subtree_common_prefix_length bytes of the parent entry's key).

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cairn/status.h"
#include "format/ocdbt/byte_reader.h"
#include "format/ocdbt/data_file_table.h"
#include "format/ocdbt/envelope.h"

namespace cairn::ocdbt {

/// Most entries in one B+tree node.
inline constexpr uint64_t kMaxNodeArity = 1024 * 1024;
/// Longest key (relative keys and prefixes are measured against it too).
inline constexpr uint64_t kMaxKeyLength = 65535;
/// Longest inline value.
inline constexpr uint64_t kMaxInlineValueLength = 1024 * 1024;

struct BtreeLeafEntry {
  std::string key;                               ///< Relative to the node's implicit prefix.
  std::variant<std::string, IndirectRef> value;  ///< Inline bytes, or a range of a data file.
  bool is_inline() const { return value.index() == 0; }
};

struct BtreeInteriorEntry {
  std::string key;                            ///< Relative inclusive minimum key of the child.
  uint64_t subtree_common_prefix_length = 0;  ///< Bytes of `key` every child key starts with.
  IndirectRef child;
  BtreeStats stats;
};

/// A decoded node. `files` is its data file table (base paths include the transitive path).
struct BtreeNode {
  uint8_t height = 0;  ///< 0: leaf.
  std::vector<DataFileId> files;
  std::vector<BtreeLeafEntry> leaf_entries;          ///< height == 0
  std::vector<BtreeInteriorEntry> interior_entries;  ///< height > 0
};

/// Decodes a B+tree node. Checks: 1..kMaxNodeArity entries, key prefix/suffix lengths, keys
/// strictly increasing, subtree prefixes within their keys, value kinds 0/1, inline lengths,
/// file ids within the table, offset+length without overflow, exact consumption. DataLoss
/// naming `source` otherwise.
Result<BtreeNode> DecodeBtreeNode(std::string_view encoded, const Source& source,
                                  const std::string& transitive_path = "",
                                  const DecodeOptions& options = {});

}  // namespace cairn::ocdbt
