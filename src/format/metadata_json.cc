#include "format/metadata_json.h"

#include <cstdio>
#include <cstring>

#include "base/checksum.h"
#include "base/convert.h"

namespace cairn::format {
namespace {

using nlohmann::json;

json ScalarValueJson(const Scalar& s) {
  // A human-readable value beside the exact bits (JSON has no NaN/Inf; those show as null).
  const uint64_t b = s.bits();
  auto as = [&](auto v) {
    std::memcpy(&v, &b, sizeof(v));
    return v;
  };
  switch (s.dtype()) {
    case DType::kBool: return as(uint8_t{}) != 0;
    case DType::kInt8: return as(int8_t{});
    case DType::kInt16: return as(int16_t{});
    case DType::kInt32: return as(int32_t{});
    case DType::kInt64: return as(int64_t{});
    case DType::kUint8: return as(uint8_t{});
    case DType::kUint16: return as(uint16_t{});
    case DType::kUint32: return as(uint32_t{});
    case DType::kUint64: return as(uint64_t{});
    case DType::kFloat16: return base::HalfToFloat(as(uint16_t{}));
    case DType::kBfloat16: return base::Bfloat16ToFloat(as(uint16_t{}));
    case DType::kFloat32: return as(float{});
    case DType::kFloat64: return as(double{});
    default: return nullptr;
  }
}

json BoxJson(const Box& b) { return json{{"origin", b.origin}, {"shape", b.shape}}; }

struct Decoder {
  std::string_view source;
  Status Bad(const std::string& what) const {
    return DataLossError("malformed metadata '" + std::string(source) + "': " + what);
  }
};

}  // namespace

std::string ScalarBitsHex(uint64_t bits) { return base::ChecksumToHex(bits); }

std::string EncodeItemMetadata(const ItemMetadata& m) {
  json leaves = json::array();
  for (const LeafMetadata& leaf : m.leaves) {
    json keys = json::array();
    for (const auto& seg : leaf.key_path) {
      keys.push_back({{"key", seg.key}, {"type", seg.is_index ? "index" : "map"}});
    }
    json j = {{"key_path", KeyPathString(leaf.key_path)}, {"keys", keys}, {"kind", leaf.kind}};
    if (leaf.kind == "array") {
      j["dtype"] = DTypeName(leaf.dtype);
      if (leaf.source_dtype) j["source_dtype"] = DTypeName(*leaf.source_dtype);
      j["global_shape"] = leaf.global_shape;
      j["chunk_shape"] = leaf.chunk_shape ? json(*leaf.chunk_shape) : json(nullptr);
      j["compression"] = leaf.compressed ? json("zstd") : json(nullptr);
      json pieces = json::array();
      for (const auto& p : leaf.pieces) {
        json pj = BoxJson(p.box);
        if (p.checksummed) pj["xxh3"] = base::ChecksumToHex(p.xxh3);
        pj["writer_rank"] = p.writer_rank;
        if (!p.location.is_null()) pj["location"] = p.location;
        pieces.push_back(std::move(pj));
      }
      j["pieces"] = std::move(pieces);
    } else if (leaf.kind == "scalar") {
      const auto& s = std::get<Scalar>(*leaf.value);
      j["dtype"] = DTypeName(s.dtype());
      j["bits"] = ScalarBitsHex(s.bits());
      j["value"] = ScalarValueJson(s);
    } else if (leaf.kind == "string") {
      j["value"] = std::get<std::string>(*leaf.value);
    } else {
      j["value"] = std::get<json>(*leaf.value);
    }
    leaves.push_back(std::move(j));
  }
  json doc = {{"format", "cairn"},
              {"format_version", m.format_version},
              {"backend", m.backend},
              {"leaves", std::move(leaves)}};
  return doc.dump(1) + "\n";
}

Result<ItemMetadata> DecodeItemMetadata(std::string_view text, std::string_view source) {
  Decoder d{source};
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return d.Bad("not a JSON object");
  ItemMetadata m;
  try {
    if (doc.value("format", "") != "cairn") return d.Bad("missing \"format\": \"cairn\"");
    m.format_version = doc.at("format_version").get<int>();
    if (m.format_version > kFormatVersion) {
      return FailedPreconditionError(
          "'" + std::string(source) + "' has format version " + std::to_string(m.format_version) +
          " but this cairn reads versions up to " + std::to_string(kFormatVersion) +
          "; upgrade cairn to read it");
    }
    m.backend = doc.at("backend").get<std::string>();
    for (const json& j : doc.at("leaves")) {
      LeafMetadata leaf;
      for (const json& k : j.at("keys")) {
        const std::string type = k.at("type").get<std::string>();
        if (type != "map" && type != "index") return d.Bad("bad key type '" + type + "'");
        leaf.key_path.push_back({k.at("key").get<std::string>(), type == "index"});
      }
      if (leaf.key_path.empty()) return d.Bad("leaf with an empty key path");
      leaf.kind = j.at("kind").get<std::string>();
      const std::string where = " (leaf '" + KeyPathString(leaf.key_path) + "')";
      if (leaf.kind == "array") {
        auto dt = DTypeFromName(j.at("dtype").get<std::string>());
        if (!dt.ok()) return d.Bad(dt.status().message() + where);
        leaf.dtype = *dt;
        if (j.contains("source_dtype")) {
          auto sd = DTypeFromName(j.at("source_dtype").get<std::string>());
          if (!sd.ok()) return d.Bad(sd.status().message() + where);
          leaf.source_dtype = *sd;
        }
        leaf.global_shape = j.at("global_shape").get<Shape>();
        for (int64_t e : leaf.global_shape) {
          if (e < 0) return d.Bad("negative extent" + where);
        }
        if (!j.at("chunk_shape").is_null()) leaf.chunk_shape = j.at("chunk_shape").get<Shape>();
        leaf.compressed = !j.at("compression").is_null();
        for (const json& pj : j.at("pieces")) {
          PieceMetadata p;
          p.box.origin = pj.at("origin").get<std::vector<int64_t>>();
          p.box.shape = pj.at("shape").get<std::vector<int64_t>>();
          if (p.box.origin.size() != leaf.global_shape.size() ||
              p.box.shape.size() != leaf.global_shape.size()) {
            return d.Bad("piece rank differs from the array rank" + where);
          }
          for (size_t k = 0; k < p.box.shape.size(); ++k) {
            if (p.box.origin[k] < 0 || p.box.shape[k] < 0 ||
                p.box.origin[k] > leaf.global_shape[k] - p.box.shape[k]) {
              return d.Bad("piece " + p.box.ToString() + " lies outside the global shape" + where);
            }
          }
          p.checksummed = pj.contains("xxh3");
          if (p.checksummed && !base::ChecksumFromHex(pj.at("xxh3").get<std::string>(), &p.xxh3)) {
            return d.Bad("bad xxh3 checksum text" + where);
          }
          p.writer_rank = pj.at("writer_rank").get<int>();
          if (pj.contains("location")) p.location = pj.at("location");
          leaf.pieces.push_back(std::move(p));
        }
      } else if (leaf.kind == "scalar") {
        auto dt = DTypeFromName(j.at("dtype").get<std::string>());
        if (!dt.ok()) return d.Bad(dt.status().message() + where);
        uint64_t bits = 0;
        if (!base::ChecksumFromHex(j.at("bits").get<std::string>(), &bits)) {
          return d.Bad("bad scalar bits" + where);
        }
        leaf.dtype = *dt;
        leaf.value = Leaf(Scalar::FromBits(*dt, bits));
      } else if (leaf.kind == "string") {
        leaf.value = Leaf(j.at("value").get<std::string>());
      } else if (leaf.kind == "json") {
        leaf.value = Leaf(j.at("value"));
      } else {
        return d.Bad("unknown leaf kind '" + leaf.kind + "'" + where);
      }
      m.leaves.push_back(std::move(leaf));
    }
  } catch (const json::exception& e) {
    return d.Bad(e.what());
  }
  return m;
}

std::string EncodeCheckpointMetadata(const CheckpointMetadata& m) {
  // Orbax builds a StepStatistics from "performance_metrics" and refuses keys it does not know,
  // so cairn's phase timings go under their own key (Orbax shows unknown top-level keys as
  // custom metadata); decoding merges the two.
  json doc = {{"item_handlers", m.item_handlers},
              {"metrics", m.metrics},
              {"performance_metrics", json::object()},
              {"cairn_performance_metrics", m.performance_metrics},
              {"init_timestamp_nsecs", m.init_timestamp_nsecs},
              {"commit_timestamp_nsecs", m.commit_timestamp_nsecs},
              {"custom_metadata", m.custom_metadata}};
  return doc.dump(1) + "\n";
}

Result<CheckpointMetadata> DecodeCheckpointMetadata(std::string_view text,
                                                    std::string_view source) {
  Decoder d{source};
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return d.Bad("not a JSON object");
  CheckpointMetadata m;
  try {
    m.item_handlers = doc.value("item_handlers", json::object());
    // Orbax's Checkpointer (one item, the directory itself) records one handler name.
    if (m.item_handlers.is_string()) m.item_handlers = {{"default", m.item_handlers}};
    m.metrics = doc.value("metrics", json::object());
    m.custom_metadata = doc.value("custom_metadata", json::object());
    m.performance_metrics = doc.value("performance_metrics", json::object());
    if (!m.performance_metrics.is_object()) m.performance_metrics = json::object();
    const json extra = doc.value("cairn_performance_metrics", json::object());
    for (const auto& [k, v] : extra.items()) m.performance_metrics[k] = v;
    m.init_timestamp_nsecs = doc.value("init_timestamp_nsecs", int64_t{0});
    m.commit_timestamp_nsecs = doc.value("commit_timestamp_nsecs", int64_t{0});
  } catch (const json::exception& e) {
    return d.Bad(e.what());
  }
  return m;
}

}  // namespace cairn::format
