#pragma once
// Chunk-level zarr3 I/O for the ocdbt backend: encoding the chunks one piece covers, and
// reading a box of an array from the chunks that intersect it (the library form of
// orbax_read_test's ReassembleArray). Chunks are sharding_indexed shards as Orbax writes them.

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/array.h"
#include "cairn/status.h"
#include "format/ocdbt/read_view.h"
#include "format/ocdbt/writer.h"
#include "format/ocdbt/zarr_metadata.h"

namespace cairn::storage {

/// The OCDBT key of chunk `index` of the array `name` ("" for a bare leaf).
std::string ZarrChunkKey(const std::string& name, const ocdbt::ZarrArrayMetadata& m,
                         const std::vector<uint64_t>& index);

/// Receives one stored chunk: its key and its value as parts to concatenate. The parts point into
/// the piece or the encoder's buffers and are valid only during the call.
using ChunkSink =
    std::function<Status(std::string key, std::span<const std::string_view> value_parts)>;

/// Encodes the chunks of pieces one chunk at a time, each value built once: a chunk that lies
/// whole and contiguous in the piece is passed on (uncompressed) as a view of the piece's bytes
/// plus the shard index, or compressed straight from the piece; other chunks are assembled in a
/// buffer reused across chunks, only their padding set to the fill value. zstd output is the
/// same as ocdbt::ZstdCompress's (same parameters), so values are byte-identical to
/// ocdbt::EncodeZarrArray's. Not thread-safe (it runs its own threads: set_threads); reuse one
/// encoder for many pieces.
class ChunkEncoder {
 public:
  ChunkEncoder();
  ~ChunkEncoder();
  ChunkEncoder(const ChunkEncoder&) = delete;
  ChunkEncoder& operator=(const ChunkEncoder&) = delete;

  /// Calls `sink` for each chunk of m's grid that `piece` (dense C-order `data`, stored dtype)
  /// covers, in C order of the chunk grid. The piece must consist of whole chunks (edge chunks
  /// clipped at the array's end): Internal otherwise, unless `skip_partial`, which skips the
  /// chunks the piece covers only in part (assembled elsewhere: chunk_plan.h). Errors from
  /// `sink` stop the encoding and are returned.
  Status EncodePiece(const std::string& name, const ocdbt::ZarrArrayMetadata& m, const Box& piece,
                     const void* data, const ChunkSink& sink, bool skip_partial = false);

  /// Compress up to `n` chunks at a time on as many threads (default 1). The output does not
  /// change, nor the order of the sink's calls (always on the calling thread).
  void set_threads(int n);

 private:
  struct Scratch;
  std::unique_ptr<Scratch> scratch_;
  std::vector<std::unique_ptr<Scratch>> pool_;  // the other threads' buffers
  int threads_ = 1;
};

/// The stored chunks of `piece` (dense C-order `data`, stored dtype): one key/value per chunk
/// of m's grid that the piece covers. The piece must consist of whole chunks (edge chunks
/// clipped at the array's end); Internal otherwise. Edge chunks are padded with the fill value.
Result<std::vector<ocdbt::KeyValue>> EncodePieceChunks(const std::string& name,
                                                       const ocdbt::ZarrArrayMetadata& m,
                                                       const Box& piece, const void* data);

/// Fills `dest` (dense C order for `box`, stored dtype) from the chunks of array `name` that
/// intersect `box`; elements of absent chunks are the fill value. DataLoss naming the key for
/// malformed chunks.
Status ReadZarrBox(const ocdbt::ReadView& view, const std::string& name,
                   const ocdbt::ZarrArrayMetadata& m, const Box& box, void* dest);

}  // namespace cairn::storage
