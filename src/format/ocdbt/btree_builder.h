#pragma once
/// Builds the B+tree nodes of a new tree level by level, as TensorStore's BtreeNodeEncoder does
/// (spec 1.10): entries carry full keys; each level is split into nodes whose estimated decoded
/// size stays under max_decoded_node_bytes (TensorStore's estimate and split points, so the same
/// entries give the same nodes); a non-root node excludes the common prefix of its first and
/// last keys (for an interior node, capped by its entries' subtree prefixes) and its parent
/// entry records it as subtree_common_prefix_length; a root excludes nothing. Pure: the caller
/// places each encoded node in a data file and turns it into a parent entry (ParentEntry).

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "cairn/status.h"
#include "format/ocdbt/byte_writer.h"
#include "format/ocdbt/data_file_table.h"

namespace cairn::ocdbt {

/// A byte range of a data file named by its path (not by a table index).
struct FileRange {
  DataFileId file;
  uint64_t offset = 0;
  uint64_t length = 0;
};

/// A key and its value: inline bytes, or a range of a data file.
struct NewLeafEntry {
  std::string key;  ///< The full key.
  std::variant<std::string, FileRange> value;
};

/// A child node of an interior node being built.
struct NewInteriorEntry {
  std::string key;                            ///< Full inclusive minimum key of the child.
  uint64_t subtree_common_prefix_length = 0;  ///< Bytes of `key` the child's keys all share.
  FileRange child;
  BtreeStats stats;
};

/// One encoded node, not yet placed.
struct EncodedBtreeNode {
  std::string encoded;            ///< Envelope included.
  std::string inclusive_min_key;  ///< Full first key (empty for a root).
  uint64_t excluded_prefix_length = 0;
  BtreeStats stats;  ///< Of the subtree, this node's encoded size included.
};

struct BtreeBuildOptions {
  /// Split target (the config's max_decoded_node_bytes; 0: no limit). Default: Orbax's 100 MB.
  uint64_t max_decoded_node_bytes = 100000000;
  EnvelopeCompression compression;  ///< Default: raw.
};

/// Encodes sorted leaf entries (strictly increasing full keys, at least one) into one or more
/// height-0 nodes. With `may_be_root`, a level that fits one node is encoded as the root (no
/// excluded prefix). InvalidArgument for unsorted keys or values the node format rejects.
Result<std::vector<EncodedBtreeNode>> EncodeLeafLevel(const std::vector<NewLeafEntry>& entries,
                                                      const BtreeBuildOptions& options,
                                                      bool may_be_root = true);

/// Encodes sorted interior entries into nodes of `height` (at least 1); nodes hold at least two
/// entries unless there is only one.
Result<std::vector<EncodedBtreeNode>> EncodeInteriorLevel(
    const std::vector<NewInteriorEntry>& entries, uint8_t height, const BtreeBuildOptions& options,
    bool may_be_root = true);

/// The entry a parent holds for `node`, once placed at `location`.
NewInteriorEntry ParentEntry(const EncodedBtreeNode& node, FileRange location);

}  // namespace cairn::ocdbt
