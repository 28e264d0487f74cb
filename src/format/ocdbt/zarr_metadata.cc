#include "format/ocdbt/zarr_metadata.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/convert.h"

namespace cairn::ocdbt {
namespace {

using Json = nlohmann::json;

Status Bad(const Source& s, const std::string& what) { return SourceError(s, what); }
Status Unsupported(const Source& s, const std::string& what) {
  return UnimplementedError(DescribeSource(s) + ": " + what);
}

// dump() that cannot throw (parsed strings are valid UTF-8, but stay safe).
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

const Json* Find(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

Status ReadShape(const Json* j, const Source& s, const std::string& what, bool positive,
                 std::vector<uint64_t>* out) {
  if (j == nullptr || !j->is_array()) return Bad(s, what + " must be an array of integers");
  if (j->size() > 64) return Bad(s, what + " has more than 64 dimensions");
  out->clear();
  for (const auto& d : *j) {
    if (!d.is_number_unsigned()) return Bad(s, what + " must hold non-negative integers");
    const uint64_t v = d.get<uint64_t>();
    if (positive && v == 0) return Bad(s, what + " must hold positive integers");
    out->push_back(v);
  }
  return OkStatus();
}

// {"name": ..., "configuration": {...}} -> name, configuration (null if absent).
Status NameConfig(const Json& j, const Source& s, std::string* name, const Json** config) {
  if (!j.is_object()) return Bad(s, "a codec must be an object");
  const Json* n = Find(j, "name");
  if (n == nullptr || !n->is_string()) return Bad(s, "a codec needs a string \"name\"");
  *name = n->get<std::string>();
  *config = Find(j, "configuration");
  if (*config != nullptr && !(*config)->is_object()) {
    return Bad(s, "codec \"" + *name + "\": configuration must be an object");
  }
  return OkStatus();
}

Status CheckLittleEndianBytes(const Json* config, const Source& s) {
  if (config == nullptr) return OkStatus();
  const Json* e = Find(*config, "endian");
  if (e == nullptr) return OkStatus();
  if (!e->is_string()) return Bad(s, "bytes codec: endian must be a string");
  if (*e != "little") return Unsupported(s, "bytes codec endian \"" + e->get<std::string>() + "\"");
  return OkStatus();
}

// The array -> bytes -> bytes chain: bytes, then optionally zstd.
Status ReadInnerChain(const Json* codecs, const Source& s, ZarrArrayMetadata* m) {
  if (codecs == nullptr || !codecs->is_array() || codecs->empty()) {
    return Bad(s, "codecs must be a non-empty array");
  }
  std::string name;
  const Json* config = nullptr;
  CAIRN_RETURN_IF_ERROR(NameConfig((*codecs)[0], s, &name, &config));
  if (name != "bytes") return Unsupported(s, "codec \"" + name + "\" (expected bytes first)");
  CAIRN_RETURN_IF_ERROR(CheckLittleEndianBytes(config, s));
  if (codecs->size() > 2) return Unsupported(s, "more than bytes + zstd in the codec chain");
  if (codecs->size() == 2) {
    CAIRN_RETURN_IF_ERROR(NameConfig((*codecs)[1], s, &name, &config));
    if (name != "zstd") return Unsupported(s, "codec \"" + name + "\" after bytes");
    m->zstd = true;
    if (config != nullptr) {
      if (const Json* level = Find(*config, "level")) {
        if (!level->is_number_integer()) return Bad(s, "zstd level must be an integer");
        const int64_t v = level->get<int64_t>();
        if (v < -131072 || v > 22) return Bad(s, "zstd level " + std::to_string(v) + " invalid");
        m->zstd_level = static_cast<int>(v);
      }
      if (const Json* checksum = Find(*config, "checksum")) {
        if (!checksum->is_boolean()) return Bad(s, "zstd checksum must be a boolean");
        m->zstd_checksum = checksum->get<bool>();
      }
    }
  }
  return OkStatus();
}

Status ReadShardingCodec(const Json* config, const Source& s, ZarrArrayMetadata* m) {
  if (config == nullptr) return Bad(s, "sharding_indexed needs a configuration");
  std::vector<uint64_t> inner;
  CAIRN_RETURN_IF_ERROR(
      ReadShape(Find(*config, "chunk_shape"), s, "sharding chunk_shape", true, &inner));
  if (inner.size() != m->shape.size()) {
    return Bad(s, "sharding chunk_shape rank differs from the array's");
  }
  for (size_t d = 0; d < inner.size(); ++d) {
    if (m->chunk_shape[d] % inner[d] != 0) {
      return Bad(s, "sharding chunk_shape does not divide the chunk grid's chunk_shape");
    }
  }
  m->inner_chunk_shape = inner;
  CAIRN_RETURN_IF_ERROR(ReadInnerChain(Find(*config, "codecs"), s, m));
  const Json* index = Find(*config, "index_codecs");
  if (index == nullptr || !index->is_array() || index->size() != 2) {
    return Unsupported(s, "index_codecs other than [bytes, crc32c]");
  }
  std::string name;
  const Json* c = nullptr;
  CAIRN_RETURN_IF_ERROR(NameConfig((*index)[0], s, &name, &c));
  if (name != "bytes") return Unsupported(s, "index codec \"" + name + "\"");
  CAIRN_RETURN_IF_ERROR(CheckLittleEndianBytes(c, s));
  CAIRN_RETURN_IF_ERROR(NameConfig((*index)[1], s, &name, &c));
  if (name != "crc32c") return Unsupported(s, "index codec \"" + name + "\" (expected crc32c)");
  if (const Json* loc = Find(*config, "index_location")) {
    if (!loc->is_string()) return Bad(s, "index_location must be a string");
    if (*loc != "end") return Unsupported(s, "index_location \"" + loc->get<std::string>() + "\"");
  }
  return OkStatus();
}

template <typename T>
void Append(std::string* out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
  out->append(buf, sizeof(T));
}

Result<double> FloatValue(const Json& j, const Source& s) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const std::string& v = j.get_ref<const std::string&>();
    if (v == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (v == "Infinity") return std::numeric_limits<double>::infinity();
    if (v == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  return Bad(s, "fill_value " + Dump(j) + " is not a number, \"NaN\" or \"(-)Infinity\"");
}

// A "0x..." fill value: the raw bits, big-endian hex, of exactly the element size.
bool HexBits(const Json& j, size_t size, std::string* out) {
  if (!j.is_string()) return false;
  const std::string& v = j.get_ref<const std::string&>();
  if (v.size() != 2 + 2 * size || v[0] != '0' || v[1] != 'x') return false;
  uint64_t bits = 0;
  for (size_t i = 2; i < v.size(); ++i) {
    const char c = v[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return false;
    bits = (bits << 4) | static_cast<uint64_t>(d);
  }
  out->clear();
  for (size_t i = 0; i < size; ++i) out->push_back(static_cast<char>(bits >> (8 * i)));
  return true;
}

Status ScalarFill(const Json& j, DType dtype, const Source& s, std::string* out) {
  const size_t size = DTypeSize(dtype);
  if (IsFloatingPoint(dtype) && HexBits(j, size, out)) return OkStatus();
  out->clear();
  if (dtype == DType::kBool) {
    if (!j.is_boolean()) return Bad(s, "bool fill_value must be true or false");
    out->push_back(j.get<bool>() ? 1 : 0);
    return OkStatus();
  }
  if (IsSignedInteger(dtype) || IsUnsignedInteger(dtype)) {
    if (!j.is_number_integer()) return Bad(s, "integer fill_value expected, got " + Dump(j));
    const bool neg = j.is_number_unsigned() ? false : j.get<int64_t>() < 0;
    const int bits = static_cast<int>(size * 8);
    if (IsUnsignedInteger(dtype)) {
      if (neg) return Bad(s, "negative fill_value for an unsigned type");
      const uint64_t v = j.get<uint64_t>();
      if (bits < 64 && v >> bits) return Bad(s, "fill_value out of range");
      for (size_t i = 0; i < size; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
    } else {
      if (j.is_number_unsigned() && j.get<uint64_t>() > uint64_t(INT64_MAX)) {
        return Bad(s, "fill_value out of range");
      }
      const int64_t v = j.get<int64_t>();
      if (bits < 64 && (v < -(int64_t{1} << (bits - 1)) || v >= (int64_t{1} << (bits - 1)))) {
        return Bad(s, "fill_value out of range");
      }
      for (size_t i = 0; i < size; ++i) {
        out->push_back(static_cast<char>(static_cast<uint64_t>(v) >> (8 * i)));
      }
    }
    return OkStatus();
  }
  CAIRN_ASSIGN_OR_RETURN(double v, FloatValue(j, s));
  switch (dtype) {
    case DType::kFloat16:
      Append(out, base::FloatToHalf(static_cast<float>(v)));
      break;
    case DType::kBfloat16:
      Append(out, base::FloatToBfloat16(static_cast<float>(v)));
      break;
    case DType::kFloat32:
      Append(out, static_cast<float>(v));
      break;
    case DType::kFloat64:
      Append(out, v);
      break;
    default:
      return Bad(s, "unexpected dtype for fill_value");
  }
  return OkStatus();
}

Status ReadFill(const Json* j, DType dtype, const Source& s, std::string* out) {
  if (j == nullptr || j->is_null()) {  // zarr v3 requires it; treat absence as zero
    out->assign(DTypeSize(dtype), '\0');
    return OkStatus();
  }
  if (IsComplex(dtype)) {
    const DType part = dtype == DType::kComplex64 ? DType::kFloat32 : DType::kFloat64;
    if (!j->is_array() || j->size() != 2) return Bad(s, "complex fill_value must be [re, im]");
    std::string re, im;
    CAIRN_RETURN_IF_ERROR(ScalarFill((*j)[0], part, s, &re));
    CAIRN_RETURN_IF_ERROR(ScalarFill((*j)[1], part, s, &im));
    *out = re + im;
    return OkStatus();
  }
  return ScalarFill(*j, dtype, s, out);
}

}  // namespace

uint64_t ZarrArrayMetadata::InnerChunksPerShard() const {
  if (!inner_chunk_shape) return 1;
  uint64_t n = 1;
  for (size_t d = 0; d < chunk_shape.size(); ++d) n *= chunk_shape[d] / (*inner_chunk_shape)[d];
  return n;
}

std::string ZarrArrayMetadata::ChunkKey(const std::vector<uint64_t>& index) const {
  std::string key = "c";
  for (uint64_t i : index) {
    key += separator;
    key += std::to_string(i);
  }
  return key;
}

Result<ZarrArrayMetadata> ParseZarrMetadata(std::string_view text, const Source& s) {
  const Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Bad(s, "zarr.json is not valid JSON");
  if (!j.is_object()) return Bad(s, "zarr.json must hold a JSON object");
  const Json* format = Find(j, "zarr_format");
  if (format == nullptr || !format->is_number_integer() || *format != 3) {
    return Bad(s, "zarr_format must be 3");
  }
  const Json* node_type = Find(j, "node_type");
  if (node_type == nullptr || !node_type->is_string()) return Bad(s, "node_type missing");
  if (*node_type != "array") return Unsupported(s, "node_type " + Dump(*node_type));
  ZarrArrayMetadata m;
  const Json* dtype = Find(j, "data_type");
  if (dtype == nullptr || !dtype->is_string()) return Bad(s, "data_type must be a string");
  auto parsed = DTypeFromName(dtype->get_ref<const std::string&>());
  if (!parsed.ok()) return Unsupported(s, "data_type " + Dump(*dtype));
  m.dtype = *parsed;
  CAIRN_RETURN_IF_ERROR(ReadShape(Find(j, "shape"), s, "shape", false, &m.shape));

  const Json* grid = Find(j, "chunk_grid");
  if (grid == nullptr || !grid->is_object()) return Bad(s, "chunk_grid must be an object");
  std::string name;
  const Json* config = nullptr;
  CAIRN_RETURN_IF_ERROR(NameConfig(*grid, s, &name, &config));
  if (name != "regular") return Unsupported(s, "chunk_grid \"" + name + "\"");
  if (config == nullptr) return Bad(s, "regular chunk_grid needs a configuration");
  CAIRN_RETURN_IF_ERROR(
      ReadShape(Find(*config, "chunk_shape"), s, "chunk_shape", true, &m.chunk_shape));
  if (m.chunk_shape.size() != m.shape.size()) {
    return Bad(s, "chunk_shape rank " + std::to_string(m.chunk_shape.size()) +
                      " differs from shape rank " + std::to_string(m.shape.size()));
  }

  const Json* cke = Find(j, "chunk_key_encoding");
  if (cke == nullptr || !cke->is_object()) return Bad(s, "chunk_key_encoding must be an object");
  CAIRN_RETURN_IF_ERROR(NameConfig(*cke, s, &name, &config));
  if (name != "default") return Unsupported(s, "chunk_key_encoding \"" + name + "\"");
  if (config != nullptr) {
    if (const Json* sep = Find(*config, "separator")) {
      if (!sep->is_string() || (*sep != "/" && *sep != ".")) {
        return Bad(s, "chunk key separator must be \"/\" or \".\"");
      }
      m.separator = sep->get_ref<const std::string&>()[0];
    }
  }

  const Json* codecs = Find(j, "codecs");
  if (codecs == nullptr || !codecs->is_array() || codecs->empty()) {
    return Bad(s, "codecs must be a non-empty array");
  }
  CAIRN_RETURN_IF_ERROR(NameConfig((*codecs)[0], s, &name, &config));
  if (name == "sharding_indexed") {
    if (codecs->size() != 1) return Unsupported(s, "codecs after sharding_indexed");
    CAIRN_RETURN_IF_ERROR(ReadShardingCodec(config, s, &m));
  } else {
    CAIRN_RETURN_IF_ERROR(ReadInnerChain(codecs, s, &m));
  }
  CAIRN_RETURN_IF_ERROR(ReadFill(Find(j, "fill_value"), m.dtype, s, &m.fill_value));
  if (const Json* names = Find(j, "dimension_names")) {
    if (!names->is_array() || names->size() != m.shape.size()) {
      return Bad(s, "dimension_names must be an array of one entry per dimension");
    }
    for (const auto& n : *names) {
      if (n.is_null()) {
        m.dimension_names.emplace_back();
      } else if (n.is_string()) {
        m.dimension_names.push_back(n.get<std::string>());
      } else {
        return Bad(s, "dimension_names entries must be strings or null");
      }
    }
  }
  return m;
}

}  // namespace cairn::ocdbt
