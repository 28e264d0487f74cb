#pragma once
/// Encoders for the OCDBT objects, the mirror image of the decoders (btree.h, version_tree.h,
/// manifest.h, data_file_table.h): each takes the struct its decoder returns and produces the
/// bytes TensorStore writes for it (checked byte for byte against TensorStore-written nodes in
/// ocdbt_encode_test.cc). Pure: no I/O.
///
/// Data file references (`IndirectRef::file`) index the struct's `files`; the encoders build the
/// object's own table from the files actually referenced, sorted by (base_path, relative_path)
/// with duplicates removed (spec 1.6), and renumber the references. Base paths are written as
/// given: they are relative to the transitive path of the object being encoded.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cairn/status.h"
#include "format/ocdbt/btree.h"
#include "format/ocdbt/byte_writer.h"
#include "format/ocdbt/data_file_table.h"
#include "format/ocdbt/manifest.h"
#include "format/ocdbt/version_tree.h"

namespace cairn::ocdbt {

/// Collects the data files of one object and writes its table.
class DataFileTableBuilder {
 public:
  void Add(const DataFileId& file) { index_.emplace(Key(file), 0); }
  /// Writes num_files, prefix lengths (TensorStore's rule: the common prefix of the base paths,
  /// continued into the relative paths only when the base paths are equal), suffix lengths,
  /// base path lengths and the suffix bytes; fixes every file's index. InvalidArgument if a
  /// path is longer than kMaxPathLength.
  Status Encode(ByteWriter& w);
  /// The index of an added file (valid after Encode).
  uint64_t IndexOf(const DataFileId& file) const { return index_.at(Key(file)); }
  size_t size() const { return index_.size(); }

 private:
  static std::pair<std::string, std::string> Key(const DataFileId& f) {
    return {f.base_path, f.relative_path};
  }
  std::map<std::pair<std::string, std::string>, uint64_t> index_;  // memcmp order
};

/// The compression an object inherits from the database config.
inline EnvelopeCompression CompressionOf(const Config& config) {
  return {.zstd = config.zstd, .level = config.zstd_level};
}

/// The config columns (spec 1.4): uuid, manifest_kind (1 byte), max_inline_value_bytes,
/// max_decoded_node_bytes, version_tree_arity_log2 (1 byte), compression method, zstd level.
void EncodeConfig(const Config& config, ByteWriter& w);

/// A B+tree node (envelope included). Keys are written as given (relative to the node's
/// implicit prefix); the key prefix column is the common prefix of consecutive keys.
/// InvalidArgument for 0 or more than kMaxNodeArity entries, keys not strictly increasing or
/// longer than kMaxKeyLength, an inline value over kMaxInlineValueLength, a subtree prefix
/// longer than its key, or a file index outside `files`.
Result<std::string> EncodeBtreeNode(const BtreeNode& node, const EnvelopeCompression& compression);

/// A version-tree node (envelope included): leaf entries at height 0, interior entries above.
/// InvalidArgument for an empty or over-full entry array or a file index outside `files`.
Result<std::string> EncodeVersionTreeNode(const VersionTreeNode& node,
                                          const EnvelopeCompression& compression);

/// A manifest (envelope included), compressed as its config says. Kind single: config, data
/// file table, inline versions, version node references (with heights); kind numbered: the
/// config only. An empty generation's root (IndirectRef::IsMissing) refers to the empty data
/// file ("", "") whatever its file index, as TensorStore writes it. InvalidArgument for no
/// versions (kind single) or a file index outside `files`.
Result<std::string> EncodeManifest(const Manifest& manifest);

}  // namespace cairn::ocdbt
