#include "storage/ocdbt/zarr_chunks.h"

#include <zstd.h>

#include <cstring>

#include "base/box_ops.h"
#include "format/ocdbt/byte_writer.h"
#include "format/ocdbt/shard_index.h"
#include "format/ocdbt/zarr_encode.h"

namespace cairn::storage {
namespace {

int64_t Product(const std::vector<uint64_t>& v) {
  int64_t n = 1;
  for (uint64_t d : v) n *= static_cast<int64_t>(d);
  return n;
}

// Advances a C-order index over [lo, hi]; false after the last one.
bool Next(std::vector<uint64_t>& index, const std::vector<uint64_t>& lo,
          const std::vector<uint64_t>& hi) {
  for (size_t d = index.size(); d-- > 0;) {
    if (++index[d] <= hi[d]) return true;
    index[d] = lo[d];
  }
  return false;
}

// Row-major coordinates of `flat` in a grid of `shape`.
std::vector<uint64_t> Unravel(uint64_t flat, const std::vector<uint64_t>& shape) {
  std::vector<uint64_t> pos(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    pos[d] = flat % shape[d];
    flat /= shape[d];
  }
  return pos;
}

// Chunk grid range [lo, hi] covering the non-empty `box`.
void GridRange(const ocdbt::ZarrArrayMetadata& m, const Box& box, std::vector<uint64_t>& lo,
               std::vector<uint64_t>& hi) {
  const size_t rank = m.shape.size();
  lo.assign(rank, 0);
  hi.assign(rank, 0);
  for (size_t d = 0; d < rank; ++d) {
    lo[d] = static_cast<uint64_t>(box.origin[d]) / m.chunk_shape[d];
    hi[d] = static_cast<uint64_t>(box.origin[d] + box.shape[d] - 1) / m.chunk_shape[d];
  }
}

Box ChunkBox(const std::vector<uint64_t>& origin, const std::vector<uint64_t>& shape) {
  Box b;
  for (size_t d = 0; d < shape.size(); ++d) {
    b.origin.push_back(static_cast<int64_t>(origin[d]));
    b.shape.push_back(static_cast<int64_t>(shape[d]));
  }
  return b;
}

void FillWith(char* dest, int64_t count, const std::string& fill) {
  for (int64_t i = 0; i < count; ++i) std::memcpy(dest + i * fill.size(), fill.data(), fill.size());
}

}  // namespace

std::string ZarrChunkKey(const std::string& name, const ocdbt::ZarrArrayMetadata& m,
                         const std::vector<uint64_t>& index) {
  return name.empty() ? m.ChunkKey(index) : name + "/" + m.ChunkKey(index);
}

Result<std::vector<ocdbt::KeyValue>> EncodePieceChunks(const std::string& name,
                                                       const ocdbt::ZarrArrayMetadata& m,
                                                       const Box& piece, const void* data) {
  std::vector<ocdbt::KeyValue> out;
  if (piece.NumElements() == 0) return out;
  const size_t rank = m.shape.size();
  const size_t elem = DTypeSize(m.dtype);
  const std::vector<uint64_t> inner = m.inner_chunk_shape.value_or(m.chunk_shape);
  if (inner != m.chunk_shape) {
    return InternalError("zarr array '" + name + "': only one inner chunk per shard is written");
  }
  std::vector<uint64_t> lo, hi;
  GridRange(m, piece, lo, hi);
  std::vector<uint64_t> index = lo;
  std::string raw(static_cast<size_t>(Product(m.chunk_shape)) * elem, '\0');
  do {
    std::vector<uint64_t> origin(rank);
    for (size_t d = 0; d < rank; ++d) origin[d] = index[d] * m.chunk_shape[d];
    const Box chunk = ChunkBox(origin, m.chunk_shape);
    Box clipped = chunk;  // the chunk's part inside the array
    for (size_t d = 0; d < rank; ++d) {
      clipped.shape[d] = std::min<int64_t>(chunk.shape[d],
                                           static_cast<int64_t>(m.shape[d]) - chunk.origin[d]);
    }
    std::optional<Box> region = base::Intersect(chunk, piece);
    if (!region || *region != clipped) {
      return InternalError("zarr array '" + name + "': piece " + piece.ToString() +
                           " does not cover whole chunks of " +
                           base::ShapeString(ChunkBox(origin, m.chunk_shape).shape));
    }
    FillWith(raw.data(), Product(m.chunk_shape), m.fill_value);
    base::CopyRegion(data, piece, raw.data(), chunk, *region, elem);
    std::string encoded;
    if (m.zstd) {
      CAIRN_ASSIGN_OR_RETURN(encoded,
                             ocdbt::ZstdCompress(raw, m.zstd_level.value_or(3), m.zstd_checksum));
    } else {
      encoded = raw;
    }
    std::string value = m.inner_chunk_shape ? ocdbt::EncodeShard({std::move(encoded)})
                                            : std::move(encoded);
    out.push_back({ZarrChunkKey(name, m, index), std::move(value)});
  } while (Next(index, lo, hi));
  return out;
}

Status ReadZarrBox(const ocdbt::ReadView& view, const std::string& name,
                   const ocdbt::ZarrArrayMetadata& m, const Box& box, void* dest) {
  const size_t rank = m.shape.size();
  const size_t elem = DTypeSize(m.dtype);
  if (m.fill_value.size() != elem || box.origin.size() != rank) {
    return DataLossError("zarr array '" + name + "': metadata does not match the request " +
                         box.ToString());
  }
  FillWith(static_cast<char*>(dest), box.NumElements(), m.fill_value);
  if (box.NumElements() == 0) return OkStatus();
  const std::vector<uint64_t> inner = m.inner_chunk_shape.value_or(m.chunk_shape);
  std::vector<uint64_t> inner_grid(rank);
  for (size_t d = 0; d < rank; ++d) {
    if (m.chunk_shape[d] == 0 || inner[d] == 0 || m.chunk_shape[d] % inner[d] != 0) {
      return UnimplementedError("zarr array '" + name +
                                "': inner chunk shape does not divide the chunk shape");
    }
    inner_grid[d] = m.chunk_shape[d] / inner[d];
  }
  const size_t inner_bytes = static_cast<size_t>(Product(inner)) * elem;
  std::vector<uint64_t> lo, hi;
  GridRange(m, box, lo, hi);
  std::vector<uint64_t> index = lo;
  do {
    const std::string key = ZarrChunkKey(name, m, index);
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> stored, view.Get(key));
    if (!stored) continue;  // reads as the fill value
    const ocdbt::Source source{(view.root() / key).string()};
    std::vector<ocdbt::ShardChunkRef> refs;
    if (m.inner_chunk_shape) {
      CAIRN_ASSIGN_OR_RETURN(refs, ocdbt::DecodeShardIndex(*stored, m.InnerChunksPerShard(),
                                                           source));
    } else {
      refs.push_back({0, stored->size()});
    }
    for (uint64_t ic = 0; ic < refs.size(); ++ic) {
      if (refs[ic].IsMissing()) continue;
      std::vector<uint64_t> origin(rank);
      const std::vector<uint64_t> sub = Unravel(ic, inner_grid);
      for (size_t d = 0; d < rank; ++d) origin[d] = index[d] * m.chunk_shape[d] + sub[d] * inner[d];
      const Box inner_box = ChunkBox(origin, inner);
      std::optional<Box> region = base::Intersect(inner_box, box);
      if (!region) continue;
      std::string_view bytes(stored->data() + refs[ic].offset, refs[ic].nbytes);
      std::string raw;
      if (m.zstd) {
        raw.assign(inner_bytes, '\0');
        const size_t n = ZSTD_decompress(raw.data(), raw.size(), bytes.data(), bytes.size());
        if (ZSTD_isError(n) || n != raw.size()) {
          return DataLossError("zarr chunk '" + key + "' of '" + view.root().string() +
                               "': inner chunk " + std::to_string(ic) + " is not a zstd frame of " +
                               std::to_string(raw.size()) + " bytes");
        }
        bytes = raw;
      }
      if (bytes.size() != inner_bytes) {
        return DataLossError("zarr chunk '" + key + "' of '" + view.root().string() +
                             "': inner chunk " + std::to_string(ic) + " has " +
                             std::to_string(bytes.size()) + " bytes, expected " +
                             std::to_string(inner_bytes));
      }
      base::CopyRegion(bytes.data(), inner_box, dest, box, *region, elem);
    }
  } while (Next(index, lo, hi));
  return OkStatus();
}

}  // namespace cairn::storage
