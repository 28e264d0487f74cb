#include "format/ocdbt/zarr_encode.h"

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/convert.h"
#include "format/ocdbt/byte_reader.h"
#include "format/ocdbt/byte_writer.h"

namespace cairn::ocdbt {
namespace {

using Json = nlohmann::json;

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // little-endian hosts only, as the decoders
  return v;
}

std::string HexBits(uint64_t bits, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "0x";
  for (int i = static_cast<int>(2 * size) - 1; i >= 0; --i)
    s.push_back(kDigits[(bits >> (4 * i)) & 15]);
  return s;
}

// TensorStore's float fill values: a number, "Infinity"/"-Infinity", "NaN" for the canonical
// quiet NaN and "0x<bits>" for any other NaN.
Json FloatJson(double v, uint64_t bits, uint64_t canonical_nan, size_t size) {
  if (std::isnan(v)) return bits == canonical_nan ? Json("NaN") : Json(HexBits(bits, size));
  if (std::isinf(v)) return Json(v > 0 ? "Infinity" : "-Infinity");
  return Json(v);
}

Json ScalarJson(DType dtype, const char* p) {
  switch (dtype) {
    case DType::kBool:
      return Json(p[0] != 0);
    case DType::kInt8:
      return Json(Load<int8_t>(p));
    case DType::kInt16:
      return Json(Load<int16_t>(p));
    case DType::kInt32:
      return Json(Load<int32_t>(p));
    case DType::kInt64:
      return Json(Load<int64_t>(p));
    case DType::kUint8:
      return Json(Load<uint8_t>(p));
    case DType::kUint16:
      return Json(Load<uint16_t>(p));
    case DType::kUint32:
      return Json(Load<uint32_t>(p));
    case DType::kUint64:
      return Json(Load<uint64_t>(p));
    case DType::kFloat16: {
      const uint16_t b = Load<uint16_t>(p);
      return FloatJson(base::HalfToFloat(b), b, 0x7e00, 2);
    }
    case DType::kBfloat16: {
      const uint16_t b = Load<uint16_t>(p);
      return FloatJson(base::Bfloat16ToFloat(b), b, 0x7fc0, 2);
    }
    case DType::kFloat32:
      return FloatJson(Load<float>(p), Load<uint32_t>(p), 0x7fc00000, 4);
    case DType::kFloat64:
      return FloatJson(Load<double>(p), Load<uint64_t>(p), 0x7ff8000000000000, 8);
    case DType::kComplex64:
      return Json::array({ScalarJson(DType::kFloat32, p), ScalarJson(DType::kFloat32, p + 4)});
    case DType::kComplex128:
      return Json::array({ScalarJson(DType::kFloat64, p), ScalarJson(DType::kFloat64, p + 8)});
  }
  return Json();
}

Json Codec(const char* name, Json config) {
  Json c = Json::object();
  if (!config.is_null()) c["configuration"] = std::move(config);
  c["name"] = name;
  return c;
}

Json LittleEndianBytes() {
  Json config = Json::object();
  config["endian"] = "little";
  return Codec("bytes", std::move(config));
}

Json InnerChain(const ZarrArrayMetadata& m) {
  Json chain = Json::array();
  chain.push_back(DTypeSize(m.dtype) == 1 ? Codec("bytes", Json()) : LittleEndianBytes());
  if (m.zstd) {
    Json config = Json::object();
    config["checksum"] = m.zstd_checksum;
    config["level"] = m.zstd_level.value_or(3);
    chain.push_back(Codec("zstd", std::move(config)));
  }
  return chain;
}

uint64_t Product(const std::vector<uint64_t>& v) {
  uint64_t n = 1;
  for (uint64_t d : v) n *= d;
  return n;
}

// Advances a C-order index over `extent`; false after the last one.
bool Next(std::vector<uint64_t>& index, const std::vector<uint64_t>& extent) {
  for (size_t d = index.size(); d-- > 0;) {
    if (++index[d] < extent[d]) return true;
    index[d] = 0;
  }
  return false;
}

// The box [origin, origin + box) of the array, elements outside it set to `fill`.
std::string CopyBox(std::string_view data, const std::vector<uint64_t>& shape,
                    const std::vector<uint64_t>& origin, const std::vector<uint64_t>& box,
                    const std::string& fill) {
  const size_t elem = fill.size();
  const uint64_t count = Product(box);
  std::string out;
  out.reserve(count * elem);
  for (uint64_t i = 0; i < count; ++i) out += fill;
  const size_t rank = shape.size();
  if (rank == 0) {
    if (!data.empty()) out.assign(data.substr(0, elem));
    return out;
  }
  const uint64_t last = rank - 1;
  if (origin[last] >= shape[last]) return out;
  const uint64_t run = std::min(box[last], shape[last] - origin[last]);
  std::vector<uint64_t> outer(rank - 1, 0), outer_extent(box.begin(), box.end() - 1);
  for (uint64_t e : outer_extent) {
    if (e == 0) return out;
  }
  do {
    bool inside = true;
    uint64_t src = 0, dst = 0;
    for (size_t d = 0; d < last; ++d) {
      const uint64_t at = origin[d] + outer[d];
      if (at >= shape[d]) inside = false;
      src = src * shape[d] + at;
      dst = dst * box[d] + outer[d];
    }
    if (!inside) continue;
    src = src * shape[last] + origin[last];
    dst = dst * box[last];
    std::memcpy(out.data() + dst * elem, data.data() + src * elem, run * elem);
  } while (Next(outer, outer_extent));
  return out;
}

}  // namespace

ZarrArrayMetadata OrbaxZarrMetadata(DType dtype, std::vector<uint64_t> shape,
                                    std::vector<uint64_t> chunk_shape, bool use_compression) {
  ZarrArrayMetadata m;
  m.dtype = dtype;
  m.shape = std::move(shape);
  m.inner_chunk_shape = chunk_shape;
  m.chunk_shape = std::move(chunk_shape);
  m.zstd = use_compression;
  if (use_compression) m.zstd_level = 3;
  m.fill_value.assign(DTypeSize(dtype), '\0');
  return m;
}

Result<std::string> EncodeZarrMetadata(const ZarrArrayMetadata& m) {
  const size_t rank = m.shape.size();
  if (m.chunk_shape.size() != rank ||
      (m.inner_chunk_shape && m.inner_chunk_shape->size() != rank)) {
    return InvalidArgumentError("zarr metadata: chunk shape rank differs from the array rank " +
                                std::to_string(rank));
  }
  if (m.fill_value.size() != DTypeSize(m.dtype)) {
    return InvalidArgumentError("zarr metadata: fill value of " +
                                std::to_string(m.fill_value.size()) + " bytes for " +
                                std::string(DTypeName(m.dtype)));
  }
  if (!m.dimension_names.empty() && m.dimension_names.size() != rank) {
    return InvalidArgumentError("zarr metadata: dimension_names needs one entry per dimension");
  }
  Json j = Json::object();
  Json grid_config = Json::object();
  grid_config["chunk_shape"] = m.chunk_shape;
  j["chunk_grid"] = Codec("regular", std::move(grid_config));
  Json cke_config;
  if (m.separator != '/') {
    cke_config = Json::object();
    cke_config["separator"] = std::string(1, m.separator);
  }
  j["chunk_key_encoding"] = Codec("default", std::move(cke_config));
  if (m.inner_chunk_shape) {
    Json config = Json::object();
    config["chunk_shape"] = *m.inner_chunk_shape;
    config["codecs"] = InnerChain(m);
    config["index_codecs"] = Json::array({LittleEndianBytes(), Codec("crc32c", Json())});
    j["codecs"] = Json::array({Codec("sharding_indexed", std::move(config))});
  } else {
    j["codecs"] = InnerChain(m);
  }
  j["data_type"] = std::string(DTypeName(m.dtype));
  if (!m.dimension_names.empty()) {
    Json names = Json::array();
    for (const auto& n : m.dimension_names) names.push_back(n.empty() ? Json() : Json(n));
    j["dimension_names"] = std::move(names);
  }
  j["fill_value"] = ScalarJson(m.dtype, m.fill_value.data());
  j["node_type"] = "array";
  j["shape"] = m.shape;
  j["zarr_format"] = 3;
  return j.dump();
}

std::string EncodeShard(const std::vector<std::optional<std::string>>& inner_chunks) {
  ByteWriter data, index;
  for (const auto& chunk : inner_chunks) {
    if (!chunk) {
      index.U64Le(UINT64_MAX);
      index.U64Le(UINT64_MAX);
      continue;
    }
    index.U64Le(data.size());
    index.U64Le(chunk->size());
    data.Bytes(*chunk);
  }
  const uint32_t crc = Crc32c(index.data());
  index.U32Le(crc);
  data.Bytes(index.data());
  return data.Release();
}

Result<std::vector<KeyValue>> EncodeZarrArray(std::string_view name, const ZarrArrayMetadata& m,
                                              std::string_view data) {
  CAIRN_ASSIGN_OR_RETURN(std::string json, EncodeZarrMetadata(m));
  const size_t rank = m.shape.size();
  const size_t elem = DTypeSize(m.dtype);
  if (data.size() != Product(m.shape) * elem) {
    return InvalidArgumentError("zarr array '" + std::string(name) +
                                "': " + std::to_string(data.size()) + " data bytes for " +
                                std::to_string(Product(m.shape)) + " elements of " +
                                std::to_string(elem) + " bytes");
  }
  std::vector<uint64_t> grid(rank), inner = m.inner_chunk_shape.value_or(m.chunk_shape),
                                    per_shard(rank);
  for (size_t d = 0; d < rank; ++d) {
    if (m.chunk_shape[d] == 0 || inner[d] == 0 || m.chunk_shape[d] % inner[d] != 0) {
      return InvalidArgumentError("zarr array '" + std::string(name) +
                                  "': chunk shapes must be positive and nested");
    }
    grid[d] = (m.shape[d] + m.chunk_shape[d] - 1) / m.chunk_shape[d];
    per_shard[d] = m.chunk_shape[d] / inner[d];
  }
  const std::string prefix = name.empty() ? "" : std::string(name) + "/";
  std::vector<KeyValue> out;
  out.push_back({prefix + "zarr.json", std::move(json)});
  if (Product(grid) == 0) return out;

  const auto encode_chunk = [&](const std::vector<uint64_t>& origin) -> Result<std::string> {
    std::string raw = CopyBox(data, m.shape, origin, inner, m.fill_value);
    if (!m.zstd) return raw;
    return ZstdCompress(raw, m.zstd_level.value_or(3), m.zstd_checksum);
  };
  std::vector<uint64_t> chunk(rank, 0);
  do {
    std::string value;
    if (m.inner_chunk_shape) {
      std::vector<std::optional<std::string>> inner_chunks;
      std::vector<uint64_t> sub(rank, 0);
      do {
        std::vector<uint64_t> origin(rank);
        for (size_t d = 0; d < rank; ++d)
          origin[d] = chunk[d] * m.chunk_shape[d] + sub[d] * inner[d];
        CAIRN_ASSIGN_OR_RETURN(std::string encoded, encode_chunk(origin));
        inner_chunks.emplace_back(std::move(encoded));
      } while (Next(sub, per_shard));
      value = EncodeShard(inner_chunks);
    } else {
      std::vector<uint64_t> origin(rank);
      for (size_t d = 0; d < rank; ++d) origin[d] = chunk[d] * m.chunk_shape[d];
      CAIRN_ASSIGN_OR_RETURN(value, encode_chunk(origin));
    }
    out.push_back({prefix + m.ChunkKey(chunk), std::move(value)});
  } while (Next(chunk, grid));
  return out;
}

}  // namespace cairn::ocdbt
