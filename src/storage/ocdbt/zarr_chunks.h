#pragma once
// Chunk-level zarr3 I/O for the ocdbt backend: encoding the chunks one piece covers, and
// reading a box of an array from the chunks that intersect it (the library form of
// orbax_read_test's ReassembleArray). Chunks are sharding_indexed shards as Orbax writes them.

#include <string>
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
