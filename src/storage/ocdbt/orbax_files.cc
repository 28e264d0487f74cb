#include "storage/ocdbt/orbax_files.h"

#include <boost/archive/iterators/base64_from_binary.hpp>
#include <boost/archive/iterators/transform_width.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/fs.h"

namespace cairn::storage {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Python's repr of a str (ASCII escapes; other characters as they are).
std::string PyRepr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\' || c == static_cast<unsigned char>(q)) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += q;
  return out;
}

// RFC 4648 §5 (urlsafe) base64 with padding, as Python's base64.urlsafe_b64encode.
std::string UrlsafeBase64(const std::string& s) {
  using namespace boost::archive::iterators;
  using It = base64_from_binary<transform_width<std::string::const_iterator, 6, 8>>;
  std::string out(It(s.begin()), It(s.end()));
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  out.append((3 - s.size() % 3) % 3, '=');
  return out;
}

json ChunkOf(const LeafMetadata& leaf, const std::map<std::string, std::vector<uint64_t>>& chunks) {
  auto it = chunks.find(KeyPathString(leaf.key_path));
  if (it != chunks.end()) return it->second;
  return leaf.global_shape;
}

}  // namespace

std::string OrbaxKeyTuple(const KeyPath& path) {
  std::string out = "(";
  for (size_t i = 0; i < path.size(); ++i) {
    if (i > 0) out += ", ";
    out += PyRepr(path[i].key);
  }
  if (path.size() == 1) out += ",";
  return out + ")";
}

std::string EncodeOrbaxTreeMetadata(const ItemMetadata& m,
                                    const std::map<std::string, std::vector<uint64_t>>& chunks) {
  json tree = json::object();
  for (const LeafMetadata& leaf : m.leaves) {
    json keys = json::array();
    for (const KeySegment& s : leaf.key_path) {
      keys.push_back({{"key", s.key}, {"key_type", s.is_index ? 1 : 2}});
    }
    json value = {{"skip_deserialize", false}};
    if (leaf.kind == "array") {
      value["value_type"] = "jax.Array";
      value["write_shape"] = ChunkOf(leaf, chunks);
    } else if (leaf.kind == "scalar") {
      value["value_type"] = "scalar";
    } else {
      value["value_type"] = "string";  // strings, and JSON leaves as their text
    }
    tree[OrbaxKeyTuple(leaf.key_path)] = {{"key_metadata", keys}, {"value_metadata", value}};
  }
  json doc = {{"tree_metadata", tree},
              {"use_ocdbt", true},
              {"use_zarr3", true},
              {"store_array_data_equal_to_fill_value", true},
              {"custom_metadata", nullptr}};
  return doc.dump();
}

std::string EncodeOrbaxSharding(const ItemMetadata& m) {
  const json sharding = {{"sharding_type", "NamedSharding"},
                         {"shape", {1}},
                         {"axis_names", {"cairn"}},
                         {"partition_spec", json::array()},
                         {"device_mesh", {{"mesh", {{{"id", 0}}}}}}};
  const std::string text = sharding.dump();
  json doc = json::object();
  for (const LeafMetadata& leaf : m.leaves) {
    if (leaf.kind == "array") doc[UrlsafeBase64(KeyPathString(leaf.key_path))] = text;
  }
  return doc.dump();
}

std::string EncodeOrbaxArrayMetadatas(const ItemMetadata& m,
                                      const std::map<std::string, std::vector<uint64_t>>& chunks) {
  json list = json::array();
  for (const LeafMetadata& leaf : m.leaves) {
    if (leaf.kind != "array") continue;
    const json chunk = ChunkOf(leaf, chunks);
    list.push_back({{"array_metadata",
                     {{"param_name", KeyPathString(leaf.key_path)},
                      {"write_shape", chunk},
                      {"chunk_shape", chunk},
                      {"ext_metadata", nullptr}}}});
  }
  return json{{"array_metadatas", list}}.dump();
}

std::optional<std::string> EncodeOrbaxStrings(const ItemMetadata& m) {
  json doc = json::object();
  for (const LeafMetadata& leaf : m.leaves) {
    if (!leaf.value) continue;
    const std::string name = KeyPathString(leaf.key_path);
    if (const auto* s = std::get_if<std::string>(&*leaf.value)) doc[name] = *s;
    if (const auto* j = std::get_if<json>(&*leaf.value)) doc[name] = j->dump();
  }
  if (doc.empty()) return std::nullopt;
  return doc.dump();
}

Status WriteOrbaxItemFiles(const fs::path& item_dir, const ItemMetadata& m,
                           const std::map<std::string, std::vector<uint64_t>>& chunks,
                           bool write_sharding, std::optional<uint32_t> file_mode) {
  if (auto strings = EncodeOrbaxStrings(m)) {
    CAIRN_RETURN_IF_ERROR(base::WriteFileDurably(item_dir / kOrbaxStringsFile, *strings, file_mode));
  }
  if (write_sharding) {
    CAIRN_RETURN_IF_ERROR(
        base::WriteFileDurably(item_dir / kOrbaxShardingFile, EncodeOrbaxSharding(m), file_mode));
  }
  const fs::path arrays = item_dir / kOrbaxArrayMetadataDir;
  CAIRN_RETURN_IF_ERROR(base::CreateDirectories(arrays, file_mode));
  CAIRN_RETURN_IF_ERROR(base::WriteFileDurably(arrays / "process_0",
                                               EncodeOrbaxArrayMetadatas(m, chunks), file_mode));
  return base::WriteFileDurably(item_dir / kOrbaxMetadataFile, EncodeOrbaxTreeMetadata(m, chunks),
                                file_mode);
}

}  // namespace cairn::storage
