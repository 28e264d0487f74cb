#pragma once
/// A read-only key-value view of an OCDBT database directory: reads manifest.ocdbt (kind single,
/// or kind numbered with manifest.<16 hex> files), takes the newest generation (or a chosen
/// one, found through the version tree) and lists / gets keys, reading B+tree nodes and
/// indirect values from the data files by (file, offset, length).
///
/// This is the only part of src/format/ocdbt/ that does I/O (POSIX pread); it is the reading
/// half the OCDBT storage backend will build on. Not thread-safe for concurrent Open; the const
/// methods may run concurrently.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "format/ocdbt/btree.h"
#include "format/ocdbt/manifest.h"

namespace cairn::ocdbt {

/// One generation and the data file its B+tree root is in (`ref.root.file` indexes the table
/// of whichever object recorded the generation).
struct GenerationInfo {
  GenerationRef ref;
  DataFileId root_file;
};

class ReadView {
 public:
  /// Opens the newest generation of the database at `root`. NotFound if there is no
  /// manifest.ocdbt; DataLoss (naming the file) if any object read is malformed.
  static Result<ReadView> Open(const std::filesystem::path& root,
                               const DecodeOptions& options = {});

  /// Every generation, oldest first: the version-tree nodes walked, then the manifest's own.
  Result<std::vector<GenerationInfo>> ListGenerations() const;
  /// The same database at an older (or the same) generation. NotFound if it is not recorded.
  Result<ReadView> AtGeneration(uint64_t generation_number) const;

  const Manifest& manifest() const { return manifest_; }
  const GenerationRef& generation() const { return generation_; }
  const std::filesystem::path& root() const { return root_; }

  /// All keys starting with `prefix`, in increasing order.
  Result<std::vector<std::string>> ListKeys(std::string_view prefix = "") const;
  /// The value of `key`, or nullopt if absent.
  Result<std::optional<std::string>> Get(std::string_view key) const;

  /// Where the value of `key` is, without reading it: its B+tree leaf entry and, for an indirect
  /// value, the data file holding it; nullopt if absent. Get reads what this finds (value_ref.h
  /// builds partial reads on it).
  struct Located {
    BtreeLeafEntry entry;
    DataFileId file;  ///< of an indirect value; unset for an inline one
  };
  Result<std::optional<Located>> Locate(std::string_view key) const;

  /// Bytes [offset, offset + length) of a data file. DataLoss if the range passes the end of
  /// the file or the path leaves the root ("..", absolute).
  Result<std::string> ReadRange(const DataFileId& file, uint64_t offset, uint64_t length) const;

 private:
  ReadView() = default;
  Result<BtreeNode> ReadNode(const DataFileId& file, const IndirectRef& ref,
                             uint8_t expected_height, std::string_view inclusive_min) const;
  Status ListRecursive(const BtreeNode& node, const std::string& node_prefix,
                       std::string_view prefix, std::vector<std::string>* out) const;
  Status CollectGenerations(const DataFileId& file, const VersionNodeRef& ref,
                            std::vector<GenerationInfo>* out) const;

  std::filesystem::path root_;
  DecodeOptions options_;
  Manifest manifest_;
  GenerationRef generation_;
  /// The file of generation_.root, from the table of the object that referenced it.
  DataFileId root_file_;
};

/// A data file path from a database that stays inside its root: not empty, no leading '/', no
/// "." or ".." or empty segments, no NUL. Readers refuse other paths (DataLoss).
bool SafeRelativePath(std::string_view p);

}  // namespace cairn::ocdbt
