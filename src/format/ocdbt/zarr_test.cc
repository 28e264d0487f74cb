// zarr.json parsing and shard-index decoding: hand-made edge cases, and every array in the
// TensorStore-written testdata reassembled from its chunks and compared with TensorStore's read.

#include <gtest/gtest.h>
#include <zstd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "format/ocdbt/read_view.h"
#include "format/ocdbt/shard_index.h"
#include "format/ocdbt/test_util.h"
#include "format/ocdbt/zarr_metadata.h"

namespace cairn::ocdbt {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::Le;

const Source kSrc{"x/zarr.json"};

fs::path TestData() {
  const char* dir = std::getenv("OCDBT_TESTDATA");
  return dir ? fs::path(dir) : fs::path("src/format/ocdbt/testdata");
}

// What TensorStore wrote for float32 [16, 32], chunks [8, 32], zstd without a level.
constexpr char kOrbaxJson[] =
    R"({"chunk_grid":{"configuration":{"chunk_shape":[8,32]},"name":"regular"},)"
    R"("chunk_key_encoding":{"name":"default"},"codecs":[{"configuration":{"chunk_shape":[8,32],)"
    R"("codecs":[{"configuration":{"endian":"little"},"name":"bytes"},{"configuration":)"
    R"({"checksum":false,"level":3},"name":"zstd"}],"index_codecs":[{"configuration":)"
    R"({"endian":"little"},"name":"bytes"},{"name":"crc32c"}]},"name":"sharding_indexed"}],)"
    R"("data_type":"float32","fill_value":0.0,"node_type":"array","shape":[16,32],"zarr_format":3})";

TEST(ZarrMetadataTest, ParsesOrbaxMetadata) {
  auto m = ParseZarrMetadata(kOrbaxJson, kSrc);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->dtype, DType::kFloat32);
  EXPECT_EQ(m->shape, (std::vector<uint64_t>{16, 32}));
  EXPECT_EQ(m->chunk_shape, (std::vector<uint64_t>{8, 32}));
  EXPECT_EQ(*m->inner_chunk_shape, m->chunk_shape);
  EXPECT_TRUE(m->zstd);
  EXPECT_EQ(m->zstd_level, 3);
  EXPECT_EQ(m->fill_value, std::string(4, '\0'));
  EXPECT_EQ(m->InnerChunksPerShard(), 1u);
  EXPECT_EQ(m->ChunkKey({1, 0}), "c/1/0");
  EXPECT_EQ(m->ChunkKey({}), "c");
}

Result<ZarrArrayMetadata> WithFill(const std::string& dtype, const std::string& fill) {
  Json j = Json::parse(kOrbaxJson);
  j["data_type"] = dtype;
  j["fill_value"] = Json::parse(fill);
  return ParseZarrMetadata(j.dump(), kSrc);
}

TEST(ZarrMetadataTest, FillValues) {
  EXPECT_EQ(WithFill("bfloat16", "1.0")->fill_value, Le(0x3f80, 2));
  EXPECT_EQ(WithFill("float16", "1.0")->fill_value, Le(0x3c00, 2));
  EXPECT_EQ(WithFill("float32", "\"0x7fc00001\"")->fill_value, Le(0x7fc00001, 4));
  EXPECT_EQ(WithFill("float32", "\"-Infinity\"")->fill_value, Le(0xff800000, 4));
  EXPECT_EQ(WithFill("float64", "\"NaN\"")->fill_value.size(), 8u);
  EXPECT_EQ(WithFill("int16", "-2")->fill_value, Le(0xfffe, 2));
  EXPECT_EQ(WithFill("uint64", "18446744073709551615")->fill_value, Le(UINT64_MAX, 8));
  EXPECT_EQ(WithFill("bool", "true")->fill_value, "\x01");
  EXPECT_EQ(WithFill("complex64", "[1.0, 0.0]")->fill_value, Le(0x3f800000, 4) + Le(0, 4));
  EXPECT_EQ(WithFill("int8", "128").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(WithFill("uint8", "-1").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(WithFill("bool", "0").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(WithFill("float32", "\"nan\"").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(WithFill("int4", "0").status().code(), StatusCode::kUnimplemented);
}

TEST(ZarrMetadataTest, RejectsMalformedAndUnsupported) {
  EXPECT_EQ(ParseZarrMetadata("{", kSrc).status().code(), StatusCode::kDataLoss);
  EXPECT_NE(ParseZarrMetadata("[]", kSrc).status().message().find("x/zarr.json"),
            std::string::npos);
  auto edit = [](auto f) {
    Json j = Json::parse(kOrbaxJson);
    f(j);
    return ParseZarrMetadata(j.dump(), kSrc).status().code();
  };
  EXPECT_EQ(edit([](Json& j) { j["zarr_format"] = 2; }), StatusCode::kDataLoss);
  EXPECT_EQ(edit([](Json& j) { j["shape"] = {16}; }), StatusCode::kDataLoss);
  EXPECT_EQ(edit([](Json& j) { j["shape"] = {-1, 2}; }), StatusCode::kDataLoss);
  EXPECT_EQ(edit([](Json& j) {
              j["chunk_grid"]["configuration"]["chunk_shape"] = {0, 32};
            }),
            StatusCode::kDataLoss);
  EXPECT_EQ(edit([](Json& j) { j["chunk_grid"]["name"] = "rectilinear"; }),
            StatusCode::kUnimplemented);
  EXPECT_EQ(edit([](Json& j) { j["codecs"][0]["configuration"]["index_location"] = "start"; }),
            StatusCode::kUnimplemented);
  EXPECT_EQ(edit([](Json& j) { j["codecs"][0]["configuration"]["codecs"][1]["name"] = "gzip"; }),
            StatusCode::kUnimplemented);
  EXPECT_EQ(edit([](Json& j) {
              j["codecs"][0]["configuration"]["chunk_shape"] = {3, 32};
            }),
            StatusCode::kDataLoss);
  EXPECT_EQ(edit([](Json& j) { j["codecs"][0]["configuration"]["index_location"] = "end"; }),
            StatusCode::kOk);
  EXPECT_EQ(edit([](Json& j) {
              j["chunk_key_encoding"]["configuration"] = {{"separator", "."}};
            }),
            StatusCode::kOk);
  EXPECT_EQ(edit([](Json& j) { j["codecs"] = Json::array(); }), StatusCode::kDataLoss);
}

std::string Shard(const std::string& data, std::vector<std::pair<uint64_t, uint64_t>> refs) {
  std::string index;
  for (auto& r : refs) index += Le(r.first, 8) + Le(r.second, 8);
  return data + index + Le(Crc32c(index), 4);
}

TEST(ShardIndexTest, DecodesAndChecks) {
  auto ok = DecodeShardIndex(Shard("abcdef", {{0, 4}, {UINT64_MAX, UINT64_MAX}}), 2, kSrc);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)[0].nbytes, 4u);
  EXPECT_TRUE((*ok)[1].IsMissing());
  EXPECT_EQ(DecodeShardIndex(Shard("abc", {{1, 3}}), 1, kSrc).status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(DecodeShardIndex(Shard("abc", {{UINT64_MAX, 2}}), 1, kSrc).status().code(),
            StatusCode::kDataLoss);
  std::string bad_crc = Shard("abc", {{0, 3}});
  bad_crc[3] ^= 1;
  EXPECT_NE(DecodeShardIndex(bad_crc, 1, kSrc).status().message().find("CRC-32C"),
            std::string::npos);
  EXPECT_EQ(DecodeShardIndex("short", 1, kSrc).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecodeShardIndex(Shard("", {{0, 0}}), 2, kSrc).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecodeShardIndex(Shard("", {}), 0, kSrc).status().code(), StatusCode::kDataLoss);
}

// Reassembles every array of every test database from its chunks (C order, little endian) and
// compares size and CRC-32C with what TensorStore read.
TEST(ZarrRealDataTest, ArraysMatchTensorstore) {
  std::ifstream in(TestData() / "expected.json");
  const Json expected = Json::parse(in);
  int arrays = 0;
  for (const auto& [db, contents] : expected["databases"].items()) {
    auto view = ReadView::Open(TestData() / db);
    ASSERT_TRUE(view.ok()) << view.status().ToString();
    for (const auto& [name, want] : contents["arrays"].items()) {
      SCOPED_TRACE(db + "/" + name);
      auto json = view->Get(name + "/zarr.json");
      ASSERT_TRUE(json.ok() && json->has_value());
      auto m = ParseZarrMetadata(**json, Source{db + "/" + name + "/zarr.json"});
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      EXPECT_EQ(DTypeName(m->dtype), want["data_type"].get<std::string>());
      EXPECT_EQ(m->shape, want["shape"].get<std::vector<uint64_t>>());
      const size_t item = DTypeSize(m->dtype);
      const size_t rank = m->shape.size();
      uint64_t total = item;
      for (auto d : m->shape) total *= d;
      std::string out(total, '\0');
      // Every chunk of the grid.
      std::vector<uint64_t> grid(rank), idx(rank, 0);
      uint64_t num_chunks = 1;
      for (size_t d = 0; d < rank; ++d) {
        grid[d] = (m->shape[d] + m->chunk_shape[d] - 1) / m->chunk_shape[d];
        num_chunks *= grid[d];
      }
      for (uint64_t c = 0; c < num_chunks; ++c) {
        uint64_t rem = c;
        for (size_t d = rank; d-- > 0;) {
          idx[d] = rem % grid[d];
          rem /= grid[d];
        }
        auto shard = view->Get(name + "/" + m->ChunkKey(idx));
        ASSERT_TRUE(shard.ok() && shard->has_value()) << m->ChunkKey(idx);
        auto index = DecodeShardIndex(**shard, m->InnerChunksPerShard(), Source{name});
        ASSERT_TRUE(index.ok()) << index.status().ToString();
        ASSERT_FALSE((*index)[0].IsMissing());
        std::string chunk = (*shard)->substr((*index)[0].offset, (*index)[0].nbytes);
        uint64_t chunk_elems = 1;
        for (auto d : m->chunk_shape) chunk_elems *= d;
        if (m->zstd) {
          std::string raw(chunk_elems * item, '\0');
          const size_t n = ZSTD_decompress(raw.data(), raw.size(), chunk.data(), chunk.size());
          ASSERT_FALSE(ZSTD_isError(n));
          ASSERT_EQ(n, raw.size());
          chunk = raw;
        }
        ASSERT_EQ(chunk.size(), chunk_elems * item);
        // Copy the chunk's elements that lie inside the array.
        for (uint64_t e = 0; e < chunk_elems; ++e) {
          uint64_t r = e, flat = 0;
          bool inside = true;
          std::vector<uint64_t> pos(rank);
          for (size_t d = rank; d-- > 0;) {
            pos[d] = idx[d] * m->chunk_shape[d] + r % m->chunk_shape[d];
            r /= m->chunk_shape[d];
            inside = inside && pos[d] < m->shape[d];
          }
          if (!inside) continue;
          for (size_t d = 0; d < rank; ++d) flat = flat * m->shape[d] + pos[d];
          out.replace(flat * item, item, chunk, e * item, item);
        }
      }
      EXPECT_EQ(out.size(), want["size"].get<size_t>());
      EXPECT_EQ(Crc32c(out), want["crc32c"].get<uint32_t>());
      ++arrays;
    }
  }
  EXPECT_GE(arrays, 7);
}

}  // namespace
}  // namespace cairn::ocdbt
