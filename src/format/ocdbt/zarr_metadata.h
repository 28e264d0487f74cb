#pragma once
/// zarr v3 array metadata (zarr.json), the subset TensorStore writes for Orbax (spec 2): a
/// regular chunk grid, the default chunk-key encoding with '/', and codecs that are either one
/// sharding_indexed{bytes[, zstd]; index bytes + crc32c; index at the end} or a plain
/// bytes[, zstd] chain. Anything else is Unimplemented; malformed JSON is DataLoss.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/dtype.h"
#include "cairn/status.h"
#include "format/ocdbt/byte_reader.h"

namespace cairn::ocdbt {

struct ZarrArrayMetadata {
  DType dtype = DType::kFloat32;
  std::vector<uint64_t> shape;
  std::vector<uint64_t> chunk_shape;  ///< The regular chunk grid (one stored key per chunk).
  /// With sharding_indexed: the inner chunk shape (Orbax: equal to chunk_shape).
  std::optional<std::vector<uint64_t>> inner_chunk_shape;
  bool zstd = false;              ///< The (inner) chain has a zstd codec.
  std::optional<int> zstd_level;  ///< As written; absent means the default (3).
  bool zstd_checksum = false;
  char separator = '/';  ///< Chunk key separator.
  /// The fill value as one element's little-endian bytes (DTypeSize(dtype) bytes).
  std::string fill_value;
  std::vector<std::string> dimension_names;  ///< Empty when absent.

  /// Inner chunks per stored chunk (1 without sharding).
  uint64_t InnerChunksPerShard() const;
  /// The key of chunk `index` (grid coordinates) under the array's prefix: "c/0/1", "c" at
  /// rank 0.
  std::string ChunkKey(const std::vector<uint64_t>& index) const;
};

/// Parses zarr.json text. DataLoss (naming `source`) for invalid JSON or wrong types/values;
/// Unimplemented for valid zarr v3 features outside the subset.
Result<ZarrArrayMetadata> ParseZarrMetadata(std::string_view json, const Source& source);

}  // namespace cairn::ocdbt
