// Real Orbax checkpoints (testdata/orbax_*, written by make_orbax_testdata.py with
// orbax-checkpoint + jax on 4 CPU devices) read at the key-value / zarr3 level: the JSON files
// of ocdbt-format.md 3.3, the merged top-level OCDBT database whose leaves point into
// ocdbt.process_<p>/ (1.13), and every array reassembled from its shards (2) and compared with
// what Orbax saved (orbax_expected.json: dtype, shape, CRC-32C of the C-order bytes).

#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "format/ocdbt/btree.h"
#include "format/ocdbt/read_view.h"
#include "format/ocdbt/shard_index.h"
#include "format/ocdbt/zarr_metadata.h"

namespace cairn::ocdbt {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

fs::path TestData() {
  const char* dir = std::getenv("OCDBT_TESTDATA");
  return dir ? fs::path(dir) : fs::path("src/format/ocdbt/testdata");
}

Json ReadJsonFile(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return Json::parse(in, nullptr, /*allow_exceptions=*/false);
}

const Json& Expected() {
  static const Json expected = ReadJsonFile(TestData() / "orbax_expected.json");
  return expected;
}

uint64_t Product(const std::vector<uint64_t>& v) {
  uint64_t n = 1;
  for (uint64_t d : v) n *= d;
  return n;
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

// The whole array `name` (C order, little endian) from its stored chunks: each chunk key is a
// shard (sharding_indexed) or, without sharding, one chunk; inner chunks are zstd frames when
// the chain has zstd; a missing chunk (absent key or missing index entry) is the fill value.
// Elements of edge chunks outside the array are dropped.
Result<std::string> ReassembleArray(const ReadView& view, const std::string& name,
                                    const ZarrArrayMetadata& m) {
  const size_t item = DTypeSize(m.dtype);
  const size_t rank = m.shape.size();
  if (m.fill_value.size() != item) return InternalError(name + ": fill value size");
  std::string out;
  out.reserve(Product(m.shape) * item);
  for (uint64_t i = 0; i < Product(m.shape); ++i) out += m.fill_value;

  const std::vector<uint64_t> inner = m.inner_chunk_shape.value_or(m.chunk_shape);
  std::vector<uint64_t> grid(rank), inner_grid(rank);
  for (size_t d = 0; d < rank; ++d) {
    if (m.chunk_shape[d] == 0 || inner[d] == 0 || m.chunk_shape[d] % inner[d] != 0) {
      return UnimplementedError(name + ": inner chunk shape does not divide the chunk shape");
    }
    grid[d] = (m.shape[d] + m.chunk_shape[d] - 1) / m.chunk_shape[d];
    inner_grid[d] = m.chunk_shape[d] / inner[d];
  }
  const uint64_t inner_elems = Product(inner);

  for (uint64_t c = 0; c < Product(grid); ++c) {
    const std::vector<uint64_t> cidx = Unravel(c, grid);
    const std::string key = name.empty() ? m.ChunkKey(cidx) : name + "/" + m.ChunkKey(cidx);
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> stored, view.Get(key));
    if (!stored.has_value()) continue;  // The whole chunk reads as the fill value.
    const Source source{key};
    std::vector<ShardChunkRef> refs;
    if (m.inner_chunk_shape.has_value()) {
      CAIRN_ASSIGN_OR_RETURN(refs, DecodeShardIndex(*stored, m.InnerChunksPerShard(), source));
    } else {
      refs.push_back({0, stored->size()});
    }
    for (uint64_t ic = 0; ic < refs.size(); ++ic) {
      if (refs[ic].IsMissing()) continue;
      std::string bytes = stored->substr(refs[ic].offset, refs[ic].nbytes);
      if (m.zstd) {
        std::string raw(inner_elems * item, '\0');
        const size_t n = ZSTD_decompress(raw.data(), raw.size(), bytes.data(), bytes.size());
        if (ZSTD_isError(n) || n != raw.size()) {
          return DataLossError(key + ": inner chunk " + std::to_string(ic) + " is not a zstd " +
                               "frame of " + std::to_string(raw.size()) + " bytes");
        }
        bytes = std::move(raw);
      }
      if (bytes.size() != inner_elems * item) {
        return DataLossError(key + ": inner chunk " + std::to_string(ic) + " has " +
                             std::to_string(bytes.size()) + " bytes");
      }
      const std::vector<uint64_t> iidx = Unravel(ic, inner_grid);
      for (uint64_t e = 0; e < inner_elems; ++e) {
        const std::vector<uint64_t> local = Unravel(e, inner);
        uint64_t flat = 0;
        bool inside = true;
        for (size_t d = 0; d < rank; ++d) {
          const uint64_t pos = cidx[d] * m.chunk_shape[d] + iidx[d] * inner[d] + local[d];
          inside = inside && pos < m.shape[d];
          flat = flat * m.shape[d] + pos;
        }
        if (inside) out.replace(flat * item, item, bytes, e * item, item);
      }
    }
  }
  return out;
}

// "('params', 'dense', 'kernel')" -> "params.dense.kernel" (Orbax's tree_metadata keys are
// Python str() of a tuple of strings).
std::string ParamNameFromTupleKey(const std::string& tuple) {
  std::string name;
  std::string part;
  bool in_quote = false;
  for (char ch : tuple) {
    if (ch == '\'') {
      if (in_quote) name += (name.empty() ? "" : ".") + part;
      part.clear();
      in_quote = !in_quote;
    } else if (in_quote) {
      part += ch;
    }
  }
  return name;
}

TEST(OrbaxReadTest, TestdataIsPresent) {
  ASSERT_FALSE(Expected().is_discarded());
  // Steps 0 and 1 of the manager and the StandardCheckpointer checkpoint.
  EXPECT_EQ(Expected()["items"].size(), 3u);
  EXPECT_TRUE(Expected()["items"].contains("orbax_manager/0/default"));
  EXPECT_TRUE(Expected()["items"].contains("orbax_manager/1/default"));
  EXPECT_TRUE(Expected()["items"].contains("orbax_standard"));
}

TEST(OrbaxReadTest, CheckpointMetadataFiles) {
  for (const auto& [item, want] : Expected()["items"].items()) {
    SCOPED_TRACE(item);
    const fs::path step_dir = TestData() / want["step_dir"].get<std::string>();
    const fs::path item_dir = TestData() / item;
    // Committed on local disk: no tmp names, commit_success.txt at step and item level.
    EXPECT_EQ(step_dir.string().find(".orbax-checkpoint-tmp"), std::string::npos);
    EXPECT_TRUE(fs::exists(step_dir / "commit_success.txt"));
    EXPECT_TRUE(fs::exists(item_dir / "commit_success.txt"));

    const Json ckpt = ReadJsonFile(step_dir / "_CHECKPOINT_METADATA");
    ASSERT_TRUE(ckpt.is_object());
    for (const char* key : {"item_handlers", "metrics", "performance_metrics",
                            "init_timestamp_nsecs", "commit_timestamp_nsecs", "custom_metadata"}) {
      EXPECT_TRUE(ckpt.contains(key)) << key;
    }
    const Json& handlers = ckpt["item_handlers"];
    if (step_dir == item_dir) {  // StandardCheckpointer: one handler, a string.
      EXPECT_EQ(handlers, "orbax.checkpoint._src.handlers.standard_checkpoint_handler."
                          "StandardCheckpointHandler");
    } else {  // CheckpointManager: item name -> handler.
      ASSERT_TRUE(handlers.is_object());
      EXPECT_EQ(handlers["default"],
                "orbax.checkpoint._src.handlers.pytree_checkpoint_handler."
                "PyTreeCheckpointHandler");
    }
    EXPECT_LE(ckpt["init_timestamp_nsecs"].get<uint64_t>(),
              ckpt["commit_timestamp_nsecs"].get<uint64_t>());

    const Json meta = ReadJsonFile(item_dir / "_METADATA");
    ASSERT_TRUE(meta.is_object());
    EXPECT_EQ(meta["use_ocdbt"], true);
    EXPECT_EQ(meta["use_zarr3"], true);
    EXPECT_EQ(meta["store_array_data_equal_to_fill_value"], true);
    EXPECT_TRUE(meta.contains("custom_metadata"));
    std::set<std::string> names;
    for (const auto& [tuple, entry] : meta["tree_metadata"].items()) {
      const std::string name = ParamNameFromTupleKey(tuple);
      names.insert(name);
      ASSERT_TRUE(entry["key_metadata"].is_array()) << tuple;
      for (const Json& k : entry["key_metadata"]) EXPECT_EQ(k["key_type"], 2) << tuple;  // dict
      EXPECT_EQ(entry["value_metadata"]["value_type"], "jax.Array") << tuple;
      EXPECT_EQ(entry["value_metadata"]["skip_deserialize"], false) << tuple;
      EXPECT_TRUE(entry["value_metadata"]["write_shape"].is_array()) << tuple;
    }
    std::set<std::string> want_names;
    for (const auto& [name, _] : want["arrays"].items()) want_names.insert(name);
    EXPECT_EQ(names, want_names);

    // _sharding: object of JSON strings; array_metadatas/process_0: write and chunk shapes.
    const Json sharding = ReadJsonFile(item_dir / "_sharding");
    ASSERT_TRUE(sharding.is_object());
    EXPECT_EQ(sharding.size(), want_names.size());
    for (const auto& [b64, value] : sharding.items()) {
      ASSERT_TRUE(value.is_string()) << b64;
      const Json s = Json::parse(value.get<std::string>(), nullptr, false);
      EXPECT_EQ(s["sharding_type"], "NamedSharding") << b64;
    }
    const Json arrays = ReadJsonFile(item_dir / "array_metadatas" / "process_0");
    ASSERT_TRUE(arrays["array_metadatas"].is_array());
    EXPECT_EQ(arrays["array_metadatas"].size(), want_names.size());
  }
}

TEST(OrbaxReadTest, MergedManifestPointsIntoProcessDatabases) {
  for (const auto& [item, want] : Expected()["items"].items()) {
    SCOPED_TRACE(item);
    const fs::path item_dir = TestData() / item;
    ASSERT_TRUE(fs::exists(item_dir / "ocdbt.process_0" / "manifest.ocdbt"));
    auto view = ReadView::Open(item_dir);
    ASSERT_TRUE(view.ok()) << view.status().ToString();
    auto child = ReadView::Open(item_dir / "ocdbt.process_0");
    ASSERT_TRUE(child.ok()) << child.status().ToString();

    // The same keys and values through the merged parent and the per-process child.
    auto keys = view->ListKeys();
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    auto child_keys = child->ListKeys();
    ASSERT_TRUE(child_keys.ok()) << child_keys.status().ToString();
    EXPECT_EQ(*keys, *child_keys);
    for (const std::string& key : *keys) {
      auto a = view->Get(key);
      auto b = child->Get(key);
      ASSERT_TRUE(a.ok() && b.ok() && a->has_value() && b->has_value()) << key;
      EXPECT_EQ(**a, **b) << key;
    }

    // The parent's newest root (a leaf here: few keys) is in the parent's own d/. Values up to
    // max_inline_value_bytes (1024) are copied inline into it; larger ones (params.big's
    // shards) stay indirect values in ocdbt.process_0/d/.
    auto gens = view->ListGenerations();
    ASSERT_TRUE(gens.ok() && !gens->empty());
    const GenerationInfo& newest = gens->back();
    EXPECT_EQ(newest.root_file.base_path, "");
    EXPECT_EQ(newest.root_file.relative_path.substr(0, 2), "d/");
    ASSERT_EQ(newest.ref.root_height, 0);
    auto node_bytes =
        view->ReadRange(newest.root_file, newest.ref.root.offset, newest.ref.root.length);
    ASSERT_TRUE(node_bytes.ok()) << node_bytes.status().ToString();
    auto node = DecodeBtreeNode(*node_bytes, Source{newest.root_file.FullPath()});
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    EXPECT_EQ(node->leaf_entries.size(), keys->size());
    int indirect = 0, inline_values = 0;
    for (const BtreeLeafEntry& e : node->leaf_entries) {
      if (e.is_inline()) {
        ++inline_values;
        continue;
      }
      ++indirect;
      const DataFileId& file = node->files.at(std::get<IndirectRef>(e.value).file);
      EXPECT_EQ(file.base_path, "ocdbt.process_0/") << e.key;
      EXPECT_EQ(file.relative_path.substr(0, 2), "d/") << e.key;
    }
    EXPECT_EQ(indirect, 4);  // params.big: 4 shards of 2 KiB.
    EXPECT_GT(inline_values, 0);
  }
}

TEST(OrbaxReadTest, ArraysMatchOrbax) {
  int arrays = 0;
  for (const auto& [item, want] : Expected()["items"].items()) {
    const fs::path item_dir = TestData() / item;
    const Json meta = ReadJsonFile(item_dir / "_METADATA");
    std::map<std::string, Json> write_shapes;
    for (const auto& [tuple, entry] : meta["tree_metadata"].items()) {
      write_shapes[ParamNameFromTupleKey(tuple)] = entry["value_metadata"]["write_shape"];
    }
    auto view = ReadView::Open(item_dir);
    ASSERT_TRUE(view.ok()) << item << ": " << view.status().ToString();
    auto keys = view->ListKeys();
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();

    std::set<std::string> expected_keys;
    for (const auto& [name, want_array] : want["arrays"].items()) {
      SCOPED_TRACE(item + " " + name);
      expected_keys.insert(name + "/zarr.json");
      auto json = view->Get(name + "/zarr.json");
      ASSERT_TRUE(json.ok() && json->has_value());
      auto m = ParseZarrMetadata(**json, Source{item + "/" + name + "/zarr.json"});
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      EXPECT_EQ(DTypeName(m->dtype), want_array["data_type"].get<std::string>());
      EXPECT_EQ(m->shape, want_array["shape"].get<std::vector<uint64_t>>());
      // Orbax: one inner chunk per shard, chunk = write shape (0-d: no dimensions), zstd on.
      ASSERT_TRUE(m->inner_chunk_shape.has_value());
      EXPECT_EQ(*m->inner_chunk_shape, m->chunk_shape);
      EXPECT_EQ(m->chunk_shape, write_shapes.at(name).get<std::vector<uint64_t>>());
      EXPECT_TRUE(m->zstd);
      uint64_t num_chunks = 1;
      for (size_t d = 0; d < m->shape.size(); ++d) {
        const uint64_t n = (m->shape[d] + m->chunk_shape[d] - 1) / m->chunk_shape[d];
        num_chunks *= n;
      }
      for (uint64_t c = 0; c < num_chunks; ++c) {
        std::vector<uint64_t> grid;
        for (size_t d = 0; d < m->shape.size(); ++d) {
          grid.push_back((m->shape[d] + m->chunk_shape[d] - 1) / m->chunk_shape[d]);
        }
        expected_keys.insert(name + "/" + m->ChunkKey(Unravel(c, grid)));
      }

      auto data = ReassembleArray(*view, name, *m);
      ASSERT_TRUE(data.ok()) << data.status().ToString();
      EXPECT_EQ(data->size(), want_array["size"].get<size_t>());
      EXPECT_EQ(Crc32c(*data), want_array["crc32c"].get<uint32_t>());
      ++arrays;
    }
    // Every chunk was stored (store_array_data_equal_to_fill_value), nothing else.
    EXPECT_EQ(std::set<std::string>(keys->begin(), keys->end()), expected_keys) << item;
  }
  EXPECT_EQ(arrays, 21);  // 7 leaves in each of 3 items.
}

TEST(OrbaxReadTest, ReassembleFillsMissingChunks) {
  // A shard whose chunk key is absent reads as the fill value: reuse a real array's metadata
  // under a name that has no chunks.
  const std::string item = "orbax_manager/0/default";
  auto view = ReadView::Open(TestData() / item);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  auto json = view->Get("params.dense.kernel/zarr.json");
  ASSERT_TRUE(json.ok() && json->has_value());
  auto m = ParseZarrMetadata(**json, Source{"kernel/zarr.json"});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  m->fill_value = std::string("\x00\x00\x80\x3f", 4);  // 1.0f
  auto data = ReassembleArray(*view, "no.such.param", *m);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  ASSERT_EQ(data->size(), Product(m->shape) * 4);
  for (size_t i = 0; i < data->size(); i += 4) ASSERT_EQ(data->substr(i, 4), m->fill_value);
}

}  // namespace
}  // namespace cairn::ocdbt
