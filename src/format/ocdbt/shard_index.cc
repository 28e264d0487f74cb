#include "format/ocdbt/shard_index.h"

namespace cairn::ocdbt {

Result<std::vector<ShardChunkRef>> DecodeShardIndex(std::string_view shard, uint64_t num_chunks,
                                                    const Source& source) {
  if (num_chunks == 0 || num_chunks > (shard.size() - std::min<size_t>(shard.size(), 4)) / 16) {
    return SourceError(source, "shard of " + std::to_string(shard.size()) +
                                   " bytes cannot hold an index of " + std::to_string(num_chunks) +
                                   " chunks (" + std::to_string(num_chunks) + " * 16 + 4 bytes)");
  }
  const uint64_t index_size = ShardIndexSize(num_chunks);
  const uint64_t data_size = shard.size() - index_size;
  std::string_view index = shard.substr(data_size, index_size - 4);
  ByteReader crc_reader(shard.substr(shard.size() - 4), source);
  uint32_t stored = 0;
  CAIRN_RETURN_IF_ERROR(crc_reader.U32Le(&stored, "shard index crc32c"));
  if (Crc32c(index) != stored) {
    return SourceError(source, "shard index CRC-32C mismatch (stored " + std::to_string(stored) +
                                   ", computed " + std::to_string(Crc32c(index)) + ")");
  }
  Source index_source = source;
  index_source.file_offset += data_size;
  ByteReader r(index, index_source);
  std::vector<ShardChunkRef> refs(num_chunks);
  for (uint64_t i = 0; i < num_chunks; ++i) {
    auto& ref = refs[i];
    CAIRN_RETURN_IF_ERROR(r.U64Le(&ref.offset, "chunk offset"));
    CAIRN_RETURN_IF_ERROR(r.U64Le(&ref.nbytes, "chunk nbytes"));
    if (ref.IsMissing()) continue;
    if (ref.offset > data_size || ref.nbytes > data_size - ref.offset) {
      return SourceError(source, "shard index entry " + std::to_string(i) + ": chunk [" +
                                     std::to_string(ref.offset) + ", +" +
                                     std::to_string(ref.nbytes) + ") outside the chunk data of " +
                                     std::to_string(data_size) + " bytes");
    }
  }
  return refs;
}

}  // namespace cairn::ocdbt
