#pragma once
/// OCDBT version tree (spec 1.7-1.9): the generations of a database. The newest generations
/// sit inline in the manifest; older ones in version-tree nodes (magic 0x0CDB1234).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "format/ocdbt/byte_reader.h"
#include "format/ocdbt/data_file_table.h"
#include "format/ocdbt/envelope.h"

namespace cairn::ocdbt {

inline constexpr uint8_t kMaxVersionTreeArityLog2 = 16;
/// TensorStore's limit on version-tree heights: 63 / arity_log2 - 1.
inline uint8_t MaxVersionTreeHeight(uint8_t arity_log2) {
  return static_cast<uint8_t>(63 / arity_log2 - 1);
}

/// One generation (a version-tree leaf entry): the B+tree root of that commit.
struct GenerationRef {
  uint64_t generation_number = 0;
  uint8_t root_height = 0;  ///< Height of the B+tree root (0: the root is a leaf).
  IndirectRef root;         ///< The missing ref for an empty tree.
  BtreeStats stats;
  uint64_t commit_time_ns = 0;  ///< Nanoseconds since the Unix epoch.
};

/// A reference to a version-tree node (an interior entry).
struct VersionNodeRef {
  uint64_t generation_number = 0;  ///< The latest generation in the subtree.
  IndirectRef location;
  uint64_t num_generations = 0;
  uint64_t commit_time_ns = 0;  ///< The earliest commit time in the subtree.
  uint8_t height = 0;           ///< Height of the referenced node.
};

/// A decoded version-tree node. `files` is its data file table (base paths include the
/// transitive path the node was decoded with).
struct VersionTreeNode {
  uint8_t arity_log2 = 0;
  uint8_t height = 0;
  std::vector<DataFileId> files;
  std::vector<GenerationRef> leaf_entries;       ///< height == 0
  std::vector<VersionNodeRef> interior_entries;  ///< height > 0; each child has height - 1
};

/// Decodes a version-tree node (envelope included). `transitive_path` is the base path of the
/// reference that led here. DataLoss naming `source` on malformed input.
Result<VersionTreeNode> DecodeVersionTreeNode(std::string_view encoded, const Source& source,
                                              const std::string& transitive_path = "",
                                              const DecodeOptions& options = {});

// Building blocks shared with the manifest decoder.

/// Reads a leaf-entry array (n, then the columns) and validates it: 1 <= n <= 2^arity_log2,
/// non-zero strictly increasing generations in one leaf range, empty roots with height 0 and
/// zero statistics.
Status ReadGenerationRefs(ByteReader& reader, uint8_t arity_log2, uint64_t num_files,
                          std::vector<GenerationRef>* entries);
/// Reads an interior-entry array of at most `max_entries`; with `with_height` the manifest's
/// extra entry_height column, otherwise every height is `child_height`.
Status ReadVersionNodeRefs(ByteReader& reader, uint64_t max_entries, uint64_t num_files,
                           bool with_height, uint8_t child_height,
                           std::vector<VersionNodeRef>* entries);
/// Reads the arity byte (1..16).
Status ReadArityLog2(ByteReader& reader, uint8_t* arity_log2);

}  // namespace cairn::ocdbt
