#include "storage/ocdbt/orbax_import.h"

#include <algorithm>
#include <cstring>

#include "base/fs.h"
#include "format/ocdbt/read_view.h"
#include "format/ocdbt/zarr_metadata.h"
#include "storage/ocdbt/orbax_files.h"
#include "storage/ocdbt/zarr_chunks.h"

namespace cairn::storage {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Key paths in tree order: segment by segment, list indices numerically before map keys.
bool KeyPathLess(const KeyPath& a, const KeyPath& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const KeySegment& x = a[i];
    const KeySegment& y = b[i];
    if (x.is_index && y.is_index) {
      if (x.key.size() != y.key.size()) return x.key.size() < y.key.size();
    }
    if (x.key != y.key) return x.key < y.key;
  }
  return a.size() < b.size();
}

class Importer {
 public:
  Importer(fs::path item_dir) : dir_(std::move(item_dir)) {}

  Result<ItemMetadata> Run(const json& doc) {
    const std::string meta = (dir_ / kOrbaxMetadataFile).string();
    if (!doc.value("use_zarr3", false)) {
      return UnimplementedError(
          "'" + meta + "' was written by Orbax with use_zarr3=False (zarr v2 arrays); cairn "
          "reads zarr3 only: save with use_zarr3=True (PyTreeCheckpointHandler(use_zarr3=True))");
    }
    if (!doc.value("use_ocdbt", true)) {
      return UnimplementedError("'" + meta + "' was written by Orbax with use_ocdbt=False (one "
                                "directory per array); cairn reads OCDBT checkpoints only");
    }
    const json& tree = doc.at("tree_metadata");
    if (!tree.is_object()) return DataLossError("'" + meta + "': tree_metadata is not an object");
    ItemMetadata m;
    m.backend = "ocdbt";
    for (const auto& [text, entry] : tree.items()) {
      CAIRN_ASSIGN_OR_RETURN(std::optional<LeafMetadata> leaf, Leaf(meta, text, entry));
      if (leaf) m.leaves.push_back(std::move(*leaf));
    }
    std::sort(m.leaves.begin(), m.leaves.end(), [](const LeafMetadata& a, const LeafMetadata& b) {
      return KeyPathLess(a.key_path, b.key_path);
    });
    return m;
  }

 private:
  Result<std::optional<LeafMetadata>> Leaf(const std::string& meta, const std::string& text,
                                           const json& entry) {
    const auto bad = [&](const std::string& why) {
      return DataLossError("'" + meta + "': tree_metadata entry " + text + ": " + why);
    };
    LeafMetadata leaf;
    std::string value_type;
    try {
      for (const json& k : entry.at("key_metadata")) {
        KeySegment seg;
        const json& key = k.at("key");
        seg.key = key.is_string() ? key.get<std::string>() : key.dump();
        seg.is_index = k.at("key_type").get<int>() == 1;
        leaf.key_path.push_back(std::move(seg));
      }
      const json& value = entry.at("value_metadata");
      value_type = value.at("value_type").get<std::string>();
      if (value.value("skip_deserialize", false)) return std::optional<LeafMetadata>();
    } catch (const json::exception& e) {
      return bad(e.what());
    }
    const std::string name = KeyPathString(leaf.key_path);
    if (value_type == "jax.Array" || value_type == "np.ndarray") {
      CAIRN_ASSIGN_OR_RETURN(ocdbt::ZarrArrayMetadata z, Zarr(name));
      leaf.kind = "array";
      leaf.dtype = z.dtype;
      leaf.global_shape.assign(z.shape.begin(), z.shape.end());
      leaf.chunk_shape = Shape(z.chunk_shape.begin(), z.chunk_shape.end());
      leaf.compressed = z.zstd;
      PieceMetadata piece;
      piece.box.origin.assign(leaf.global_shape.size(), 0);
      piece.box.shape = leaf.global_shape;
      piece.checksummed = false;
      leaf.pieces.push_back(std::move(piece));
    } else if (value_type == "scalar") {
      CAIRN_ASSIGN_OR_RETURN(ocdbt::ZarrArrayMetadata z, Zarr(name));
      const size_t elem = DTypeSize(z.dtype);
      if (!z.shape.empty() || elem > sizeof(uint64_t)) {
        return UnimplementedError("key path '" + name + "' in '" + dir_.string() +
                                  "': a scalar stored as " + std::string(DTypeName(z.dtype)) +
                                  " of rank " + std::to_string(z.shape.size()));
      }
      CAIRN_ASSIGN_OR_RETURN(const ocdbt::ReadView* view, View());
      uint64_t bits = 0;
      Status st = ReadZarrBox(*view, name, z, Box{}, &bits);
      if (!st.ok()) {
        return DataLossError("key path '" + name + "' in '" + dir_.string() + "': " + st.message());
      }
      leaf.kind = "scalar";
      leaf.dtype = z.dtype;
      leaf.value = Scalar::FromBits(z.dtype, bits);
    } else if (value_type == "string") {
      CAIRN_ASSIGN_OR_RETURN(const json* strings, Strings());
      auto it = strings->find(name);
      if (it == strings->end() || !it->is_string()) {
        return DataLossError("key path '" + name + "': no string under \"" + name + "\" in '" +
                             (dir_ / kOrbaxStringsFile).string() + "'");
      }
      leaf.kind = "string";
      leaf.value = it->get<std::string>();
    } else {
      return UnimplementedError("key path '" + name + "' in '" + dir_.string() +
                                "': Orbax value type \"" + value_type +
                                "\" is not read by cairn (it reads jax.Array, np.ndarray, scalar, "
                                "string)");
    }
    return std::optional<LeafMetadata>(std::move(leaf));
  }

  Result<const ocdbt::ReadView*> View() {
    if (!view_) {
      Result<ocdbt::ReadView> v = ocdbt::ReadView::Open(dir_);
      if (!v.ok()) {
        return DataLossError("cannot open the OCDBT database of the Orbax item '" + dir_.string() +
                             "': " + v.status().message());
      }
      view_ = std::move(v).value();
    }
    return &*view_;
  }

  Result<ocdbt::ZarrArrayMetadata> Zarr(const std::string& name) {
    CAIRN_ASSIGN_OR_RETURN(const ocdbt::ReadView* view, View());
    const std::string key = name.empty() ? "zarr.json" : name + "/zarr.json";
    const auto bad = [&](const std::string& why) {
      return DataLossError("key path '" + name + "' in '" + dir_.string() + "': " + why);
    };
    Result<std::optional<std::string>> text = view->Get(key);
    if (!text.ok()) return bad(text.status().message());
    if (!text->has_value()) {
      std::optional<std::string> v2;
      if (auto z = view->Get(name + "/.zarray"); z.ok() && z->has_value()) {
        return UnimplementedError("key path '" + name + "' in '" + dir_.string() +
                                  "' is a zarr v2 array (.zarray); cairn reads zarr3 only");
      }
      return bad("no " + key + " in the item's OCDBT database");
    }
    Result<ocdbt::ZarrArrayMetadata> z =
        ocdbt::ParseZarrMetadata(**text, ocdbt::Source{(dir_ / key).string()});
    if (!z.ok()) {
      if (z.status().code() == StatusCode::kUnimplemented) return z.status();
      return bad(z.status().message());
    }
    return z;
  }

  Result<const json*> Strings() {
    if (!strings_) {
      const fs::path path = dir_ / kOrbaxStringsFile;
      CAIRN_ASSIGN_OR_RETURN(std::string text, base::ReadFile(path));
      json j = json::parse(text, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        return DataLossError("'" + path.string() + "' is not a JSON object");
      }
      strings_ = std::move(j);
    }
    return &*strings_;
  }

  fs::path dir_;
  std::optional<ocdbt::ReadView> view_;
  std::optional<json> strings_;
};

}  // namespace

bool IsOrbaxTreeMetadata(const json& doc) {
  return doc.is_object() && doc.contains("tree_metadata") && !doc.contains("format_version");
}

Result<ItemMetadata> ImportOrbaxItem(const fs::path& item_dir, const json& doc) {
  return Importer(item_dir).Run(doc);
}

}  // namespace cairn::storage
