#include "format/ocdbt/manifest.h"

#include <cstring>

namespace cairn::ocdbt {
namespace {

std::string Str(uint64_t v) { return std::to_string(v); }

// TensorStore's ValidateManifestVersionTreeNodes: heights in [1, max] strictly decreasing,
// generations increasing, each within the range its height allows for the last generation.
Status ValidateVersionNodes(const ByteReader& r, uint8_t arity_log2, uint64_t last_generation,
                            const std::vector<VersionNodeRef>& nodes) {
  const uint8_t max_height = MaxVersionTreeHeight(arity_log2);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const auto& e = nodes[i];
    const std::string at = "version node " + Str(i) + ": ";
    if (e.height == 0 || e.height > max_height) {
      return r.Error(at + "entry_height " + Str(e.height) + " outside [1, " + Str(max_height) +
                     "]");
    }
    if (e.generation_number == 0) return r.Error(at + "generation_number is 0");
    if (i > 0 && e.generation_number <= nodes[i - 1].generation_number) {
      return r.Error(at + "generation_number " + Str(e.generation_number) +
                     " not above the previous");
    }
    if (i > 0 && e.height >= nodes[i - 1].height) {
      return r.Error(at + "entry_height " + Str(e.height) + " not below the previous");
    }
  }
  // Walk the heights the last generation implies, from 1 upwards, matching from the back.
  size_t i = nodes.size();
  uint64_t gen = ((last_generation - 1) >> arity_log2) << arity_log2;
  for (uint8_t height = 1; gen != 0 && i != 0; ++height) {
    const unsigned shift = (height + 1u) * arity_log2;
    const uint64_t next = shift >= 64 ? 0 : ((gen - 1) >> shift) << shift;
    const auto& e = nodes[i - 1];
    if (e.height == height) {
      --i;
      if (e.generation_number < next + 1 || e.generation_number > gen) {
        return r.Error("version node " + Str(i) + ": generation_number " +
                       Str(e.generation_number) + " outside [" + Str(next + 1) + ", " + Str(gen) +
                       "] for height " + Str(height));
      }
    }
    gen = next;
  }
  if (i != 0) {
    return r.Error("unexpected version node with generation_number " +
                   Str(nodes[i - 1].generation_number) + " and height " + Str(nodes[i - 1].height) +
                   " given last generation " + Str(last_generation));
  }
  return OkStatus();
}

}  // namespace

Status ReadConfig(ByteReader& r, Config* config) {
  std::string_view uuid;
  CAIRN_RETURN_IF_ERROR(r.Bytes(16, &uuid, "uuid"));
  std::memcpy(config->uuid.data(), uuid.data(), 16);
  uint8_t kind = 0;
  CAIRN_RETURN_IF_ERROR(r.Byte(&kind, "manifest_kind"));
  if (kind > 1) return r.Error("manifest_kind " + Str(kind) + " outside [0, 1]");
  config->manifest_kind = static_cast<ManifestKind>(kind);
  uint64_t v = 0;
  CAIRN_RETURN_IF_ERROR(r.VarintMax(&v, UINT32_MAX, "max_inline_value_bytes"));
  config->max_inline_value_bytes = static_cast<uint32_t>(v);
  CAIRN_RETURN_IF_ERROR(r.VarintMax(&v, UINT32_MAX, "max_decoded_node_bytes"));
  config->max_decoded_node_bytes = static_cast<uint32_t>(v);
  CAIRN_RETURN_IF_ERROR(ReadArityLog2(r, &config->version_tree_arity_log2));
  CAIRN_RETURN_IF_ERROR(r.VarintMax(&v, UINT32_MAX, "compression_method"));
  if (v > 1) return r.Error("compression_method " + Str(v) + " outside [0 none, 1 zstd]");
  config->zstd = v == 1;
  config->zstd_level = 0;
  if (config->zstd) {
    uint32_t level = 0;
    CAIRN_RETURN_IF_ERROR(r.U32Le(&level, "zstd level"));
    config->zstd_level = static_cast<int32_t>(level);
    if (config->zstd_level < -131072 || config->zstd_level > 22) {
      return r.Error("zstd level " + std::to_string(config->zstd_level) + " outside [-131072, 22]");
    }
  }
  return OkStatus();
}

Result<Manifest> DecodeManifest(std::string_view encoded, const Source& source,
                                const DecodeOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::string body,
                         DecodeEnvelope(encoded, kManifestMagic, source, options));
  Source body_source = source;
  body_source.decoded = true;
  ByteReader r(body, body_source);
  Manifest m;
  CAIRN_RETURN_IF_ERROR(ReadConfig(r, &m.config));
  if (m.config.manifest_kind == ManifestKind::kSingle) {
    CAIRN_RETURN_IF_ERROR(ReadDataFileTable(r, "", &m.files));
    const uint8_t arity = m.config.version_tree_arity_log2;
    CAIRN_RETURN_IF_ERROR(ReadGenerationRefs(r, arity, m.files.size(), &m.versions));
    CAIRN_RETURN_IF_ERROR(ReadVersionNodeRefs(r, MaxVersionTreeHeight(arity), m.files.size(),
                                              /*with_height=*/true, 0, &m.version_nodes));
    CAIRN_RETURN_IF_ERROR(
        ValidateVersionNodes(r, arity, m.versions.back().generation_number, m.version_nodes));
  }
  CAIRN_RETURN_IF_ERROR(r.ExpectEnd("the manifest"));
  return m;
}

}  // namespace cairn::ocdbt
