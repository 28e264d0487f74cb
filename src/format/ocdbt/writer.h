#pragma once
/// A single-process OCDBT writer: one new database holding one generation (spec 1.11). Values
/// over max_inline_value_bytes go to data files `d/<32 random lowercase hex>`, followed by the
/// B+tree nodes (leaves split by TensorStore's rule, interior levels above them); then
/// manifest.ocdbt (kind single, the generation inline) is written atomically: a temporary file,
/// fsync, rename, fsync of the directory. Data files are fsynced before the manifest appears.
///
/// Like read_view, this is I/O on top of the pure encoders; the ocdbt storage backend builds on
/// it. Readers: TensorStore's ocdbt kvstore (checked by ocdbt_tensorstore_interop) and ReadView.

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cairn/status.h"
#include "format/ocdbt/btree_builder.h"
#include "format/ocdbt/manifest.h"

namespace cairn::ocdbt {

/// Database settings; the defaults are what Orbax writes (spec 1.4).
struct WriteOptions {
  /// zstd for manifest and nodes (config compression 1); default true, as Orbax.
  bool use_zstd = true;
  /// zstd level stored in the config; default 0 (libzstd's default, 3), as Orbax.
  int32_t zstd_level = 0;
  /// Values of at most this many bytes sit inline in the leaves; default 1024 (Orbax).
  uint32_t max_inline_value_bytes = 1024;
  /// B+tree nodes are split to stay under this estimated decoded size; default 100000000
  /// (Orbax). Must be positive.
  uint32_t max_decoded_node_bytes = 100000000;
  /// A data file is closed once it holds at least this many bytes (it may exceed it by one
  /// value or node); 0: no limit. Default 2 GiB (Orbax on local disk).
  uint64_t target_data_file_size = uint64_t{2} << 30;
  /// Default 4 (Orbax).
  uint8_t version_tree_arity_log2 = 4;
  /// The database uuid; default: 16 random bytes.
  std::optional<std::array<uint8_t, 16>> uuid;
  /// Commit time of the generation in ns since the Unix epoch; default: now.
  std::optional<uint64_t> commit_time_ns;
};

/// One key and its value.
struct KeyValue {
  std::string key;
  std::string value;
};

/// What WriteDatabase wrote.
struct WriteResult {
  Manifest manifest;                    ///< As encoded into manifest.ocdbt.
  std::vector<std::string> data_files;  ///< Relative paths ("d/<hex>"), in writing order.
};

/// A leaf's value as stored: inline bytes, or a range of a data file.
using StoredValue = std::variant<std::string, FileRange>;

/// Writes a new database incrementally, so that values need not all be in memory at once:
/// AppendValue streams each large value to the open data file (through a small buffer; values
/// of a buffer's size or more go straight to write(2)) and returns where it went; Finish then
/// builds the B+tree over the (key, StoredValue) entries, writes its nodes after the values,
/// fsyncs the data files and d/, and writes manifest.ocdbt as WriteDatabase does. Data files
/// follow target_data_file_size: a new `d/<32 hex>` once the current one reaches it. Values may
/// be appended in any order; a value appended but not passed to Finish is unreferenced garbage.
/// Move-only; not thread-safe.
class DatabaseBuilder {
 public:
  /// Starts a database at `root` (created if missing). InvalidArgument for invalid options;
  /// AlreadyExists if `root` already has a manifest.ocdbt. Writes no file yet.
  static Result<DatabaseBuilder> Create(const std::filesystem::path& root,
                                        const WriteOptions& options = {});
  DatabaseBuilder(DatabaseBuilder&&) noexcept;
  DatabaseBuilder& operator=(DatabaseBuilder&&) noexcept;
  ~DatabaseBuilder();

  /// Stores the concatenation of `parts`: inline (returned as bytes) if it has at most
  /// max_inline_value_bytes, else appended to the current data file. I/O errors name the file.
  Result<StoredValue> AppendValue(std::span<const std::string_view> parts);
  Result<StoredValue> AppendValue(std::string_view bytes) {
    return AppendValue(std::span<const std::string_view>(&bytes, 1));
  }

  /// Builds the tree over `entries` (keys strictly increasing in memcmp order, each at most
  /// 65535 bytes: InvalidArgument otherwise; values from AppendValue of this builder or
  /// inline bytes) and commits generation 1. Call at most once; FailedPrecondition after.
  Result<WriteResult> Finish(std::vector<NewLeafEntry> entries);

 private:
  struct Impl;
  explicit DatabaseBuilder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Writes a new database at `root` (created if missing) holding `entries` as generation 1;
/// no entries gives the empty tree. InvalidArgument for keys not strictly increasing (memcmp
/// order), longer than 65535 bytes, or invalid options; AlreadyExists if `root` already has a
/// manifest.ocdbt; I/O errors name the file.
Result<WriteResult> WriteDatabase(const std::filesystem::path& root,
                                  const std::vector<KeyValue>& entries,
                                  const WriteOptions& options = {});

}  // namespace cairn::ocdbt
