#pragma once
/// Data file references shared by manifests and nodes (spec 1.6): the per-object table of
/// (base_path, relative_path) pairs, and (file, offset, length) references into it.

#include <cstdint>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "format/ocdbt/byte_reader.h"

namespace cairn::ocdbt {

/// Longest data file path (base + relative, transitive prefix included).
inline constexpr uint64_t kMaxPathLength = 65535;

/// A data file: found at `<database root>/<base_path><relative_path>`. `base_path` already
/// includes the transitive path of the object whose table named it.
struct DataFileId {
  std::string base_path;
  std::string relative_path;
  std::string FullPath() const { return base_path + relative_path; }
  friend bool operator==(const DataFileId&, const DataFileId&) = default;
};

/// A byte range of a data file; `file` indexes the table of the object holding the reference.
struct IndirectRef {
  uint64_t file = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  /// The "missing" reference (offset = length = UINT64_MAX) marks an empty B+tree.
  bool IsMissing() const { return offset == UINT64_MAX && length == UINT64_MAX; }
};

/// B+tree statistics carried by node references.
struct BtreeStats {
  uint64_t num_keys = 0;
  uint64_t num_tree_bytes = 0;
  uint64_t num_indirect_value_bytes = 0;
  friend bool operator==(const BtreeStats&, const BtreeStats&) = default;
};

/// Reads a data file table, prefixing every base path with `transitive_path`. DataLoss on
/// bad prefix/suffix/base lengths, paths over kMaxPathLength, or truncation.
Status ReadDataFileTable(ByteReader& reader, const std::string& transitive_path,
                         std::vector<DataFileId>* files);

/// Reads `refs.size()` file ids, then offsets, then lengths (the column layout of every
/// reference array). Each file id must index `num_files`; offset + length must not overflow
/// unless `allow_missing` and the reference is the missing one.
Status ReadIndirectRefs(ByteReader& reader, uint64_t num_files, bool allow_missing,
                        std::vector<IndirectRef>& refs);

/// Reads the three statistics columns for `stats.size()` entries.
Status ReadBtreeStats(ByteReader& reader, std::vector<BtreeStats>& stats);

/// Checks a data file id index against the table size.
Status CheckFileIndex(const ByteReader& reader, uint64_t index, uint64_t num_files);

}  // namespace cairn::ocdbt
