#include "storage/ocdbt/zarr_chunks.h"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>

#include "base/box_ops.h"
#include "format/ocdbt/byte_reader.h"
#include "format/ocdbt/byte_writer.h"
#include "format/ocdbt/shard_index.h"
#include "format/ocdbt/value_ref.h"
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

namespace {
// Chunks from this size on are compressed one at a time by zstd's threads, in jobs of
// kZstdJobBytes; smaller ones several at a time, one per thread.
constexpr size_t kZstdThreadedChunkBytes = size_t{8} << 20;
constexpr int kZstdJobBytes = 2 << 20;
}  // namespace

struct ChunkEncoder::Scratch {
  // Grown, never shrunk, and never zero-filled: fresh pages are touched only when written.
  std::unique_ptr<char[]> raw;
  size_t raw_size = 0;
  std::unique_ptr<char[]> value;
  size_t value_size = 0;
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx{nullptr, ZSTD_freeCCtx};
  int cctx_level = 0;
  bool cctx_checksum = false;
  int cctx_workers = 0;

  static char* Grow(std::unique_ptr<char[]>& buf, size_t& size, size_t want) {
    if (want > size) {
      buf = std::make_unique_for_overwrite<char[]>(want);
      size = want;
    }
    return buf.get();
  }

  // Compresses `in` into `value` (after which `reserve_after` bytes stay free); the same
  // parameters and call as ocdbt::ZstdCompress, so the same bytes, when `workers` is 0. With
  // workers >= 1, zstd's own threads compress jobs of the input in parallel (one valid frame,
  // other bytes); taken as 0 where libzstd was built without threads.
  Result<size_t> Compress(std::string_view in, int level, bool checksum, size_t reserve_after,
                          int workers = 0) {
    if (!cctx || cctx_level != level || cctx_checksum != checksum) {
      cctx.reset(ZSTD_createCCtx());
      if (!cctx) return ResourceExhaustedError("ZSTD_createCCtx failed");
      size_t rc = ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
      if (!ZSTD_isError(rc)) {
        rc = ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, checksum ? 1 : 0);
      }
      if (ZSTD_isError(rc)) {
        cctx.reset();
        return InternalError(std::string("zstd level ") + std::to_string(level) + ": " +
                             ZSTD_getErrorName(rc));
      }
      cctx_level = level;
      cctx_checksum = checksum;
      cctx_workers = 0;
    }
    if (workers != cctx_workers) {
      if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_nbWorkers, workers))) {
        workers = 0;  // single-threaded libzstd
        ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_nbWorkers, 0);
      } else if (workers > 0) {
        ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_jobSize, kZstdJobBytes);
      }
      cctx_workers = workers;
    }
    const size_t bound = ZSTD_compressBound(in.size());
    char* out = Grow(value, value_size, bound + reserve_after);
    const size_t rc = ZSTD_compress2(cctx.get(), out, bound, in.data(), in.size());
    if (ZSTD_isError(rc)) return InternalError(std::string("zstd: ") + ZSTD_getErrorName(rc));
    return rc;
  }
};

namespace {

// The element offset of `region` in the dense C-order buffer of `box` if the region's elements
// are one contiguous run there, else nullopt.
std::optional<int64_t> ContiguousOffset(const Box& box, const Box& region) {
  const size_t rank = box.shape.size();
  bool contiguous = false;
  for (size_t k = 0; k <= rank && !contiguous; ++k) {
    // Dimensions before k have extent 1, those after k span the whole box.
    bool ok = true;
    for (size_t d = 0; d < rank && ok; ++d) {
      if (d < k) ok = region.shape[d] == 1;
      if (d > k) ok = region.shape[d] == box.shape[d];
    }
    contiguous = ok;
  }
  if (!contiguous) return std::nullopt;
  int64_t offset = 0;
  for (size_t d = 0; d < rank; ++d) {
    offset = offset * box.shape[d] + (region.origin[d] - box.origin[d]);
  }
  return offset;
}

// The shard index of one inner chunk of `nbytes` at offset 0 (see ocdbt::EncodeShard).
std::array<char, 20> SingleChunkShardIndex(uint64_t nbytes) {
  std::array<char, 20> index;
  const uint64_t offset = 0;
  std::memcpy(index.data(), &offset, 8);  // little-endian hosts only, as the decoders
  std::memcpy(index.data() + 8, &nbytes, 8);
  const uint32_t crc = ocdbt::Crc32c(std::string_view(index.data(), 16));
  std::memcpy(index.data() + 16, &crc, 4);
  return index;
}

// Sets the elements of `region` in the dense buffer of `box` to `fill`.
void FillRegion(char* dest, const Box& box, const Box& region, const std::string& fill) {
  const bool bytewise = std::all_of(fill.begin(), fill.end(), [&](char c) { return c == fill[0]; });
  base::ForEachRun(box, region, [&](int64_t offset, int64_t run) {
    char* at = dest + offset * static_cast<int64_t>(fill.size());
    if (bytewise) {
      std::memset(at, fill.empty() ? 0 : fill[0], static_cast<size_t>(run) * fill.size());
    } else {
      FillWith(at, run, fill);
    }
  });
}

}  // namespace

ChunkEncoder::ChunkEncoder() : scratch_(std::make_unique<Scratch>()) {}
ChunkEncoder::~ChunkEncoder() = default;

void ChunkEncoder::set_threads(int n) { threads_ = std::max(n, 1); }

Status ChunkEncoder::EncodePiece(const std::string& name, const ocdbt::ZarrArrayMetadata& m,
                                 const Box& piece, const void* data, const ChunkSink& sink,
                                 bool skip_partial) {
  if (piece.NumElements() == 0) return OkStatus();
  const size_t rank = m.shape.size();
  const size_t elem = DTypeSize(m.dtype);
  const std::vector<uint64_t> inner = m.inner_chunk_shape.value_or(m.chunk_shape);
  if (inner != m.chunk_shape) {
    return InternalError("zarr array '" + name + "': only one inner chunk per shard is written");
  }
  if (m.fill_value.size() != elem) {
    return InternalError("zarr array '" + name + "': fill value size differs from the dtype's");
  }
  const size_t chunk_bytes = static_cast<size_t>(Product(m.chunk_shape)) * elem;
  const bool sharded = m.inner_chunk_shape.has_value();
  const size_t index_bytes = sharded ? 20 : 0;
  const auto chunk_box = [&](const std::vector<uint64_t>& index) {
    std::vector<uint64_t> origin(rank);
    for (size_t d = 0; d < rank; ++d) origin[d] = index[d] * m.chunk_shape[d];
    return ChunkBox(origin, m.chunk_shape);
  };
  // Compressing is CPU-bound. Large chunks are compressed by zstd's threads, one at a time;
  // smaller ones up to threads_ at a time, each thread with its own buffers (at most
  // threads_ x 2 x 8 MiB). The sink still gets them one at a time, in C order.
  const bool large = chunk_bytes >= kZstdThreadedChunkBytes;
  const int workers = m.zstd && large && threads_ > 1 ? threads_ : 0;
  const size_t threads = m.zstd && !large ? static_cast<size_t>(threads_) : 1;
  // One chunk encoded with the buffers of `s`: views into the piece or `s`, valid until `s` is
  // used again.
  struct Encoded {
    std::string_view bytes;
    Status status;
  };
  const auto encode = [&](Scratch& s, const std::vector<uint64_t>& index, Encoded& out) {
    const Box chunk = chunk_box(index);
    const Box region = *base::Intersect(chunk, piece);
    // The chunk's raw (uncompressed) bytes: in place in the piece when they are one run there,
    // else assembled in the scratch buffer (padding of edge chunks set to the fill value).
    std::string_view raw;
    std::optional<int64_t> at;
    if (region == chunk) at = ContiguousOffset(piece, chunk);
    if (at) {
      raw = std::string_view(static_cast<const char*>(data) + *at * static_cast<int64_t>(elem),
                             chunk_bytes);
    } else {
      char* buf = Scratch::Grow(s.raw, s.raw_size, chunk_bytes);
      for (const Box& pad : base::Subtract(chunk, region)) FillRegion(buf, chunk, pad, m.fill_value);
      base::CopyRegion(data, piece, buf, chunk, region, elem);
      raw = std::string_view(buf, chunk_bytes);
    }
    out.bytes = raw;
    if (m.zstd) {
      Result<size_t> n =
          s.Compress(raw, m.zstd_level.value_or(3), m.zstd_checksum, index_bytes, workers);
      if (!n.ok()) {
        out.status = n.status();
        return;
      }
      out.bytes = std::string_view(s.value.get(), *n);
    }
  };
  while (pool_.size() + 1 < threads) pool_.push_back(std::make_unique<Scratch>());
  std::vector<std::vector<uint64_t>> batch;
  std::vector<Encoded> outs;
  const auto flush = [&]() -> Status {
    outs.assign(batch.size(), Encoded{});
    {
      std::vector<std::jthread> workers;
      for (size_t t = 1; t < batch.size(); ++t) {
        try {
          workers.emplace_back([&, t] { encode(*pool_[t - 1], batch[t], outs[t]); });
        } catch (const std::system_error&) {  // no thread: encode it here
          encode(*pool_[t - 1], batch[t], outs[t]);
        }
      }
      encode(*scratch_, batch[0], outs[0]);
    }  // joined
    for (size_t t = 0; t < batch.size(); ++t) {
      CAIRN_RETURN_IF_ERROR(outs[t].status);
      const std::array<char, 20> shard_index = SingleChunkShardIndex(outs[t].bytes.size());
      const std::string_view parts[2] = {outs[t].bytes,
                                         std::string_view(shard_index.data(), index_bytes)};
      CAIRN_RETURN_IF_ERROR(sink(ZarrChunkKey(name, m, batch[t]),
                                 std::span<const std::string_view>(parts, sharded ? 2 : 1)));
    }
    batch.clear();
    return OkStatus();
  };
  std::vector<uint64_t> lo, hi;
  GridRange(m, piece, lo, hi);
  std::vector<uint64_t> index = lo;
  do {
    const Box chunk = chunk_box(index);
    Box clipped = chunk;  // the chunk's part inside the array
    for (size_t d = 0; d < rank; ++d) {
      clipped.shape[d] =
          std::min<int64_t>(chunk.shape[d], static_cast<int64_t>(m.shape[d]) - chunk.origin[d]);
    }
    std::optional<Box> region = base::Intersect(chunk, piece);
    if (skip_partial && (!region || *region != clipped)) continue;
    if (!region || *region != clipped) {
      return InternalError("zarr array '" + name + "': piece " + piece.ToString() +
                           " does not cover whole chunks of " + base::ShapeString(chunk.shape));
    }
    batch.push_back(index);
    if (batch.size() == threads) CAIRN_RETURN_IF_ERROR(flush());
  } while (Next(index, lo, hi));
  if (!batch.empty()) CAIRN_RETURN_IF_ERROR(flush());
  return OkStatus();
}

Result<std::vector<ocdbt::KeyValue>> EncodePieceChunks(const std::string& name,
                                                       const ocdbt::ZarrArrayMetadata& m,
                                                       const Box& piece, const void* data) {
  std::vector<ocdbt::KeyValue> out;
  ChunkEncoder encoder;
  CAIRN_RETURN_IF_ERROR(encoder.EncodePiece(
      name, m, piece, data, [&](std::string key, std::span<const std::string_view> parts) {
        std::string value;
        for (std::string_view p : parts) value.append(p);
        out.push_back({std::move(key), std::move(value)});
        return OkStatus();
      }));
  return out;
}

namespace {

// Reads the elements of `region` (inside both `chunk` and `box`) of an uncompressed chunk whose
// C-order bytes start at `data_offset` within the value at `range`, into `dest` (laid out for
// `box`): the rows of the chunk's first dimension that `region` spans, straight into `dest` when
// they are exactly the region and one run there, else through a buffer.
Status ReadUncompressedRegion(const ocdbt::ReadView& view, const ocdbt::FileRange& range,
                              uint64_t data_offset, const Box& chunk, const Box& region,
                              const Box& box, size_t elem, void* dest) {
  Box slab = chunk;
  uint64_t skip = 0;
  if (!chunk.shape.empty()) {
    slab.origin[0] = region.origin[0];
    slab.shape[0] = region.shape[0];
    skip = static_cast<uint64_t>(region.origin[0] - chunk.origin[0]) *
           static_cast<uint64_t>(
               base::NumElements(Shape(chunk.shape.begin() + 1, chunk.shape.end()))) *
           elem;
  }
  const uint64_t slab_bytes = static_cast<uint64_t>(slab.NumElements()) * elem;
  if (slab == region) {
    if (std::optional<int64_t> at = ContiguousOffset(box, region)) {
      return ocdbt::ReadValueBytes(view, range, data_offset + skip, slab_bytes,
                                   static_cast<char*>(dest) + *at * static_cast<int64_t>(elem));
    }
  }
  std::unique_ptr<char[]> buf = std::make_unique_for_overwrite<char[]>(slab_bytes);
  CAIRN_RETURN_IF_ERROR(
      ocdbt::ReadValueBytes(view, range, data_offset + skip, slab_bytes, buf.get()));
  base::CopyRegion(buf.get(), slab, dest, box, region, elem);
  return OkStatus();
}

// The part of ReadZarrBox for one uncompressed chunk with one inner chunk, stored out of line:
// reads the shard index (the value's last 20 bytes) and only the needed rows. False in `done`
// when the chunk must take the general path (inline or absent values are handled there too).
Status TryReadUncompressedChunk(const ocdbt::ReadView& view, const std::string& key,
                                const ocdbt::ZarrArrayMetadata& m, const Box& chunk,
                                const Box& region, const Box& box, size_t elem, void* dest,
                                bool& done) {
  done = false;
  Result<std::optional<ocdbt::ValueRef>> ref = ocdbt::GetValueRef(view, key);
  CAIRN_RETURN_IF_ERROR(ref.status());
  if (!ref->has_value() || (*ref)->index() != 1) return OkStatus();
  const ocdbt::FileRange& range = std::get<ocdbt::FileRange>(**ref);
  const uint64_t inner_bytes = static_cast<uint64_t>(Product(m.chunk_shape)) * elem;
  const auto bad = [&](const std::string& what) {
    return DataLossError("zarr chunk '" + key + "' of '" + view.root().string() + "': " + what);
  };
  uint64_t data_offset = 0;
  if (m.inner_chunk_shape) {
    constexpr uint64_t kIndexBytes = 20;
    if (range.length < kIndexBytes) return bad("shorter than its shard index");
    char index[kIndexBytes];
    CAIRN_RETURN_IF_ERROR(
        ocdbt::ReadValueBytes(view, range, range.length - kIndexBytes, kIndexBytes, index));
    uint64_t offset, nbytes;
    uint32_t crc;
    std::memcpy(&offset, index, 8);  // little-endian hosts only, as the decoders
    std::memcpy(&nbytes, index + 8, 8);
    std::memcpy(&crc, index + 16, 4);
    if (crc != ocdbt::Crc32c(std::string_view(index, 16))) {
      return bad("shard index CRC-32C mismatch");
    }
    if (offset == UINT64_MAX && nbytes == UINT64_MAX) {  // inner chunk absent
      base::ForEachRun(box, region, [&](int64_t off, int64_t run) {
        FillWith(static_cast<char*>(dest) + off * static_cast<int64_t>(elem), run, m.fill_value);
      });
      done = true;
      return OkStatus();
    }
    const uint64_t data_end = range.length - kIndexBytes;
    if (offset > data_end || nbytes > data_end - offset) {
      return bad("inner chunk 0 [" + std::to_string(offset) + ", +" + std::to_string(nbytes) +
                 ") passes the shard's chunk data");
    }
    if (nbytes != inner_bytes) {
      return bad("inner chunk 0 has " + std::to_string(nbytes) + " bytes, expected " +
                 std::to_string(inner_bytes));
    }
    data_offset = offset;
  } else if (range.length != inner_bytes) {
    return bad("chunk has " + std::to_string(range.length) + " bytes, expected " +
               std::to_string(inner_bytes));
  }
  CAIRN_RETURN_IF_ERROR(
      ReadUncompressedRegion(view, range, data_offset, chunk, region, box, elem, dest));
  done = true;
  return OkStatus();
}

}  // namespace

Status ReadZarrBox(const ocdbt::ReadView& view, const std::string& name,
                   const ocdbt::ZarrArrayMetadata& m, const Box& box, void* dest) {
  const size_t rank = m.shape.size();
  const size_t elem = DTypeSize(m.dtype);
  if (m.fill_value.size() != elem || box.origin.size() != rank) {
    return DataLossError("zarr array '" + name + "': metadata does not match the request " +
                         box.ToString());
  }
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
  // Uncompressed chunks of one inner chunk are read in part (the rows needed), not whole.
  const bool partial = !m.zstd && inner == m.chunk_shape;
  const auto fill = [&](const Box& region) {
    base::ForEachRun(box, region, [&](int64_t off, int64_t run) {
      FillWith(static_cast<char*>(dest) + off * static_cast<int64_t>(elem), run, m.fill_value);
    });
  };
  std::vector<uint64_t> lo, hi;
  GridRange(m, box, lo, hi);
  std::vector<uint64_t> index = lo;
  // Decoded inner chunks that do not land in `dest` directly (uninitialised: fully written).
  struct Buffer {
    std::unique_ptr<char[]> bytes;
    size_t n = 0;
    size_t size() const { return n; }
    char* data() { return bytes.get(); }
    void reset(size_t k) {
      bytes.reset(new char[k]);
      n = k;
    }
  } decoded;
  do {
    const std::string key = ZarrChunkKey(name, m, index);
    std::vector<uint64_t> chunk_origin(rank);
    for (size_t d = 0; d < rank; ++d) chunk_origin[d] = index[d] * m.chunk_shape[d];
    const Box chunk = ChunkBox(chunk_origin, m.chunk_shape);
    std::optional<Box> chunk_region = base::Intersect(chunk, box);
    if (!chunk_region) continue;
    if (partial) {
      bool done = false;
      CAIRN_RETURN_IF_ERROR(
          TryReadUncompressedChunk(view, key, m, chunk, *chunk_region, box, elem, dest, done));
      if (done) continue;
    }
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> stored, view.Get(key));
    if (!stored) {  // an absent chunk reads as the fill value
      fill(*chunk_region);
      continue;
    }
    const ocdbt::Source source{(view.root() / key).string()};
    std::vector<ocdbt::ShardChunkRef> refs;
    if (m.inner_chunk_shape) {
      CAIRN_ASSIGN_OR_RETURN(refs,
                             ocdbt::DecodeShardIndex(*stored, m.InnerChunksPerShard(), source));
    } else {
      refs.push_back({0, stored->size()});
    }
    for (uint64_t ic = 0; ic < refs.size(); ++ic) {
      std::vector<uint64_t> origin(rank);
      const std::vector<uint64_t> sub = Unravel(ic, inner_grid);
      for (size_t d = 0; d < rank; ++d) origin[d] = index[d] * m.chunk_shape[d] + sub[d] * inner[d];
      const Box inner_box = ChunkBox(origin, inner);
      std::optional<Box> region = base::Intersect(inner_box, box);
      if (!region) continue;
      if (refs[ic].IsMissing()) {  // an absent inner chunk reads as the fill value
        fill(*region);
        continue;
      }
      std::string_view bytes(stored->data() + refs[ic].offset, refs[ic].nbytes);
      if (m.zstd) {
        // Straight into `dest` when the inner chunk is one contiguous run of it (a request for
        // whole chunks of rows: what restores ask for); else through a reused buffer.
        char* out = nullptr;
        if (*region == inner_box) {
          bool same_rows = true;
          for (size_t d = 1; d < rank; ++d) {
            same_rows = same_rows && box.origin[d] == inner_box.origin[d] &&
                        box.shape[d] == inner_box.shape[d];
          }
          if (same_rows) {
            const int64_t row = rank == 0 ? 0 : inner_box.origin[0] - box.origin[0];
            out = static_cast<char*>(dest) +
                  row * static_cast<int64_t>(inner_bytes / std::max<uint64_t>(rank ? inner[0] : 1, 1));
          }
        }
        if (out == nullptr) {
          if (decoded.size() < inner_bytes) decoded.reset(inner_bytes);
          out = decoded.data();
        }
        const size_t n = ZSTD_decompress(out, inner_bytes, bytes.data(), bytes.size());
        if (ZSTD_isError(n) || n != inner_bytes) {
          return DataLossError("zarr chunk '" + key + "' of '" + view.root().string() +
                               "': inner chunk " + std::to_string(ic) + " is not a zstd frame of " +
                               std::to_string(inner_bytes) + " bytes");
        }
        if (out != decoded.data()) continue;  // already in place
        bytes = std::string_view(out, inner_bytes);
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
