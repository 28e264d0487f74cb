#pragma once
/// The OCDBT manifest (spec 1.4, 1.5): config, then (kind single) the newest generations and
/// references to version-tree nodes holding older ones.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "format/ocdbt/byte_reader.h"
#include "format/ocdbt/data_file_table.h"
#include "format/ocdbt/envelope.h"
#include "format/ocdbt/version_tree.h"

namespace cairn::ocdbt {

enum class ManifestKind : uint8_t { kSingle = 0, kNumbered = 1 };

/// The database config stored at the start of every manifest.
struct Config {
  std::array<uint8_t, 16> uuid{};
  ManifestKind manifest_kind = ManifestKind::kSingle;
  uint32_t max_inline_value_bytes = 100;
  uint32_t max_decoded_node_bytes = 8388608;
  uint8_t version_tree_arity_log2 = 4;
  bool zstd = true;        ///< Compression method 1; false: none.
  int32_t zstd_level = 0;  ///< Only meaningful with zstd (0: the library default).
};

/// Upper bound of max_inline_value_bytes (1 MiB).
inline constexpr uint32_t kMaxInlineValueBytes = 1024 * 1024;

struct Manifest {
  Config config;
  std::vector<DataFileId> files;              ///< Data file table (empty for config-only).
  std::vector<GenerationRef> versions;        ///< Newest generations, increasing; empty iff
                                              ///< config-only (manifest.ocdbt of kind numbered).
  std::vector<VersionNodeRef> version_nodes;  ///< Older generations, heights decreasing.
  bool config_only() const { return versions.empty(); }
};

/// Decodes a manifest. A manifest whose config says kind numbered holds only the config
/// (config_only()). DataLoss naming `source` on malformed input.
Result<Manifest> DecodeManifest(std::string_view encoded, const Source& source,
                                const DecodeOptions& options = {});

/// Reads the config columns (used by DecodeManifest).
Status ReadConfig(ByteReader& reader, Config* config);

}  // namespace cairn::ocdbt
