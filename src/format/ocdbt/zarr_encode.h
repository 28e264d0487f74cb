#pragma once
/// zarr v3 arrays as Orbax stores them in OCDBT (spec 2), the writing half of zarr_metadata.h
/// and shard_index.h: zarr.json text as TensorStore writes it, shards (inner chunks, then the
/// index and its CRC-32C), and the key/value pairs of a whole array. Pure: no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/dtype.h"
#include "cairn/status.h"
#include "format/ocdbt/writer.h"
#include "format/ocdbt/zarr_metadata.h"

namespace cairn::ocdbt {

/// The metadata Orbax writes for an array: regular grid of `chunk_shape`, default chunk keys
/// with '/', one sharding_indexed codec whose inner chunk is the whole chunk, inner codecs bytes
/// (little) + zstd (default level 3, no checksum) when `use_compression` (default true, as
/// Orbax), index codecs bytes + crc32c at the end, fill value zero.
ZarrArrayMetadata OrbaxZarrMetadata(DType dtype, std::vector<uint64_t> shape,
                                    std::vector<uint64_t> chunk_shape, bool use_compression = true);

/// zarr.json as TensorStore writes it: compact, keys sorted; bytes codec without "endian" for
/// 1-byte types; zstd as {"checksum":..,"level":..} (level 3 when unset); "index_location"
/// omitted (it is the default, "end"); fill_value as false/true, integers, numbers, "NaN",
/// "Infinity", "-Infinity", "0x<bits>" for other NaNs, [re, im] for complex. InvalidArgument for
/// ranks or fill-value sizes that do not match.
Result<std::string> EncodeZarrMetadata(const ZarrArrayMetadata& metadata);

/// A shard: the present inner chunks (already encoded) concatenated in C order, then one
/// (offset, nbytes) uint64le pair per inner chunk (UINT64_MAX twice for an absent one), then
/// the CRC-32C of the pairs (uint32le).
std::string EncodeShard(const std::vector<std::optional<std::string>>& inner_chunks);

/// The key/value pairs of one array named `name` (the parameter name; empty for a bare leaf):
/// "<name>/zarr.json" and one "<name>/c/<i>/<j>..." per chunk ("<name>/c" at rank 0), in chunk
/// C order (callers sort the pairs of all arrays before WriteDatabase). `data` holds the
/// elements in C order, little-endian (bool: one byte 0 or 1). Edge chunks are padded with the
/// fill value; every chunk is stored, as Orbax does (store_data_equal_to_fill_value).
/// InvalidArgument if `data` does not hold prod(shape) elements or the metadata is
/// inconsistent; Internal on a zstd error.
Result<std::vector<KeyValue>> EncodeZarrArray(std::string_view name,
                                              const ZarrArrayMetadata& metadata,
                                              std::string_view data);

}  // namespace cairn::ocdbt
