#pragma once
/// The zarr v3 sharding_indexed shard index as Orbax writes it (index_location "end", index
/// codecs bytes(little) + crc32c): after the chunk bytes, one (offset uint64le, nbytes
/// uint64le) pair per inner chunk in C order, then the CRC-32C of those pairs (uint32le).

#include <cstdint>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "format/ocdbt/byte_reader.h"

namespace cairn::ocdbt {

/// One inner chunk's byte range inside the shard.
struct ShardChunkRef {
  uint64_t offset = 0;
  uint64_t nbytes = 0;
  /// offset = nbytes = UINT64_MAX: the chunk is absent (reads as the fill value).
  bool IsMissing() const { return offset == UINT64_MAX && nbytes == UINT64_MAX; }
};

/// Bytes the index of `num_chunks` inner chunks takes (16 per chunk + 4).
inline uint64_t ShardIndexSize(uint64_t num_chunks) { return num_chunks * 16 + 4; }

/// Decodes the index at the end of `shard` for `num_chunks` inner chunks. Checks the size, the
/// CRC and that every present chunk lies inside the chunk data (before the index). DataLoss
/// naming `source` otherwise.
Result<std::vector<ShardChunkRef>> DecodeShardIndex(std::string_view shard, uint64_t num_chunks,
                                                    const Source& source);

}  // namespace cairn::ocdbt
