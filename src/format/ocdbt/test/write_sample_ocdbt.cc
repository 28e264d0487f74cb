// Writes OCDBT databases of zarr3 arrays (every dtype, 0-d, edge chunks, empty) and plain
// key/value pairs with cairn's writer, for check_tensorstore_interop.py to read with the real
// TensorStore. Usage: write_sample_ocdbt <out_dir>. For each database <db> it writes
//   <out_dir>/<db>/                the database
//   <out_dir>/<db>.arrays/<name>   each array's elements, C order, little-endian
//   <out_dir>/<db>.json            options, arrays (dtype, shape, data file) and every key with
//                                  its value in hex
// Exit status 0, or 1 with the error on stderr.

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "base/fs.h"
#include "format/ocdbt/test_util.h"
#include "format/ocdbt/writer.h"
#include "format/ocdbt/zarr_encode.h"

namespace {

namespace fs = std::filesystem;
using cairn::DType;
using cairn::Status;
using cairn::ocdbt::KeyValue;
using cairn::ocdbt::WriteOptions;
using Json = nlohmann::json;

struct ArraySpec {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape, chunk;
};

// Every dtype; shapes with edge chunks, 0-d, an empty dimension, chunks above and below the
// inline limit.
const std::vector<ArraySpec>& Arrays() {
  static const std::vector<ArraySpec> arrays = {
      {"params.dense.kernel", DType::kFloat32, {16, 32}, {8, 32}},
      {"params.dense.bias", DType::kBfloat16, {32}, {32}},
      {"step", DType::kInt64, {}, {}},
      {"mask", DType::kBool, {5}, {5}},
      {"opt.mu", DType::kFloat16, {7, 3}, {4, 3}},
      {"layers.0.w", DType::kFloat64, {4, 4, 4}, {2, 4, 4}},
      {"c64", DType::kComplex64, {3, 2}, {3, 2}},
      {"c128", DType::kComplex128, {2}, {2}},
      {"i8", DType::kInt8, {300}, {128}},
      {"i16", DType::kInt16, {5, 5}, {2, 3}},
      {"i32", DType::kInt32, {10}, {10}},
      {"u8", DType::kUint8, {10, 3}, {4, 3}},
      {"u16", DType::kUint16, {9}, {4}},
      {"u32", DType::kUint32, {2, 2}, {2, 2}},
      {"u64", DType::kUint64, {3}, {3}},
      {"scalar_bf16", DType::kBfloat16, {}, {}},
      {"empty", DType::kInt32, {0, 3}, {1, 3}},
      {"big", DType::kFloat32, {64, 64}, {32, 64}},
  };
  return arrays;
}

std::string RandomElements(const ArraySpec& a, std::mt19937_64& rng) {
  uint64_t n = 1;
  for (uint64_t d : a.shape) n *= d;
  std::string out(n * cairn::DTypeSize(a.dtype), '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  if (a.dtype == DType::kBool) {
    for (auto& c : out) c = static_cast<char>(c & 1);
  }
  return out;
}

struct Database {
  std::string name;
  WriteOptions options;
  bool compress_chunks;
  int plain_keys;  // extra "misc/..." pairs of varied sizes, to deepen the tree
  bool arrays = true;
  int min_root_height = 0;
  int min_data_files = 0;
};

Status Write(const fs::path& out, const Database& db, std::mt19937_64& rng) {
  std::vector<KeyValue> pairs;
  Json expected = Json::object();
  Json arrays = Json::object();
  const fs::path array_dir = out / (db.name + ".arrays");
  CAIRN_RETURN_IF_ERROR(cairn::base::CreateDirectories(array_dir, std::nullopt));
  if (db.arrays) {
    for (const ArraySpec& a : Arrays()) {
      const std::string data = RandomElements(a, rng);
      auto m = cairn::ocdbt::OrbaxZarrMetadata(a.dtype, a.shape, a.chunk, db.compress_chunks);
      CAIRN_ASSIGN_OR_RETURN(auto kv, cairn::ocdbt::EncodeZarrArray(a.name, m, data));
      for (auto& p : kv) pairs.push_back(std::move(p));
      CAIRN_RETURN_IF_ERROR(cairn::base::WriteFileDurably(array_dir / a.name, data));
      arrays[a.name] = {{"dtype", std::string(cairn::DTypeName(a.dtype))},
                        {"shape", a.shape},
                        {"data", (array_dir / a.name).string()}};
    }
  }
  for (int i = 0; i < db.plain_keys; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "misc/%04d", i);
    std::string value((i * 53) % 400, '\0');
    for (auto& c : value) c = static_cast<char>(rng());
    pairs.push_back({key, value});
  }
  std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  CAIRN_ASSIGN_OR_RETURN(auto written,
                         cairn::ocdbt::WriteDatabase(out / db.name, pairs, db.options));
  Json keys = Json::object();
  for (const auto& p : pairs) keys[p.key] = cairn::ocdbt::testing::ToHex(p.value);
  const auto& o = db.options;
  expected["root"] = (out / db.name).string();
  expected["config"] = {{"zstd", o.use_zstd},
                        {"zstd_level", o.zstd_level},
                        {"max_inline_value_bytes", o.max_inline_value_bytes},
                        {"max_decoded_node_bytes", o.max_decoded_node_bytes},
                        {"version_tree_arity_log2", o.version_tree_arity_log2}};
  expected["arrays"] = arrays;
  expected["keys"] = keys;
  expected["data_files"] = written.data_files;
  expected["root_height"] = written.manifest.versions[0].root_height;
  expected["min_root_height"] = db.min_root_height;
  expected["min_data_files"] = db.min_data_files;
  return cairn::base::WriteFileDurably(out / (db.name + ".json"), expected.dump(1));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <out_dir>\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  std::error_code ec;
  fs::remove_all(out, ec);
  std::mt19937_64 rng(20260901);
  const std::vector<Database> dbs = {
      // Orbax's settings: zstd nodes and chunks, inline limit 1024, one root leaf, one file.
      {.name = "orbax",
       .options = {},
       .compress_chunks = true,
       .plain_keys = 0,
       .min_data_files = 1},
      // Uncompressed, tiny nodes (interior levels) and files (several d/ files).
      {.name = "raw_small",
       .options = {.use_zstd = false,
                   .max_inline_value_bytes = 64,
                   .max_decoded_node_bytes = 512,
                   .target_data_file_size = 4096},
       .compress_chunks = false,
       .plain_keys = 300,
       .min_root_height = 2,
       .min_data_files = 5},
      // zstd at level 5, small nodes and files.
      {.name = "zstd_small",
       .options = {.use_zstd = true,
                   .zstd_level = 5,
                   .max_inline_value_bytes = 128,
                   .max_decoded_node_bytes = 900,
                   .target_data_file_size = 8192},
       .compress_chunks = true,
       .plain_keys = 120,
       .min_root_height = 1,
       .min_data_files = 3},
      // No keys: the empty tree (missing root).
      {.name = "empty", .options = {}, .compress_chunks = true, .plain_keys = 0, .arrays = false},
  };
  for (const auto& db : dbs) {
    Status s = Write(out, db, rng);
    if (!s.ok()) {
      std::fprintf(stderr, "write_sample_ocdbt: %s: %s\n", db.name.c_str(), s.ToString().c_str());
      return 1;
    }
  }
  std::printf("wrote %zu databases under %s\n", dbs.size(), out.c_str());
  return 0;
}
