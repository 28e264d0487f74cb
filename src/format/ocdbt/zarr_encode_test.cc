// zarr3 encoding: zarr.json text and shards compared with what TensorStore wrote (testdata/),
// fill values of every dtype, chunk keys, edge chunks and 0-d arrays. TensorStore reading
// whole databases of such arrays is ocdbt_tensorstore_interop.

#include "format/ocdbt/zarr_encode.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "format/ocdbt/read_view.h"
#include "format/ocdbt/shard_index.h"
#include "format/ocdbt/test_util.h"

namespace cairn::ocdbt {
namespace {

namespace fs = std::filesystem;
using testing::Le;

fs::path TestData() {
  const char* dir = std::getenv("OCDBT_TESTDATA");
  return dir ? fs::path(dir) : fs::path("src/format/ocdbt/testdata");
}

// The inner chunks of a shard, decompressed.
std::vector<std::string> InnerChunks(const std::string& shard, const ZarrArrayMetadata& m) {
  auto index = DecodeShardIndex(shard, m.InnerChunksPerShard(), Source{"shard"});
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  std::vector<std::string> out;
  if (!index.ok()) return out;
  for (const auto& ref : *index) {
    std::string chunk = shard.substr(ref.offset, ref.nbytes);
    if (m.zstd) {
      const unsigned long long size = ZSTD_getFrameContentSize(chunk.data(), chunk.size());
      EXPECT_NE(size, ZSTD_CONTENTSIZE_ERROR);
      std::string raw(size, '\0');
      const size_t n = ZSTD_decompress(raw.data(), raw.size(), chunk.data(), chunk.size());
      EXPECT_FALSE(ZSTD_isError(n));
      chunk = raw;
    }
    out.push_back(chunk);
  }
  return out;
}

// Every array TensorStore wrote: its zarr.json parsed and re-encoded gives the same text; its
// elements (taken from TensorStore's chunks) encoded again give shards with the same index
// layout and the same chunk bytes (identical shards when uncompressed).
TEST(ZarrEncodeTest, TensorstoreArraysReencodeIdentically) {
  int arrays = 0, identical_shards = 0;
  for (const char* db : {"raw_multi", "zstd_orbax", "merged"}) {
    auto view = ReadView::Open(TestData() / db);
    ASSERT_TRUE(view.ok()) << view.status().ToString();
    auto keys = view->ListKeys();
    ASSERT_TRUE(keys.ok());
    for (const auto& key : *keys) {
      if (!key.ends_with("/zarr.json")) continue;
      SCOPED_TRACE(std::string(db) + "/" + key);
      const std::string name = key.substr(0, key.size() - 10);
      auto text = view->Get(key);
      ASSERT_TRUE(text.ok() && text->has_value());
      auto m = ParseZarrMetadata(**text, Source{key});
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      auto again = EncodeZarrMetadata(*m);
      ASSERT_TRUE(again.ok()) << again.status().ToString();
      EXPECT_EQ(*again, **text);

      // Reassemble the array (chunk = inner chunk = whole chunk, as Orbax writes).
      const size_t item = DTypeSize(m->dtype), rank = m->shape.size();
      uint64_t elems = 1;
      for (auto d : m->shape) elems *= d;
      std::string data(elems * item, '\0');
      std::vector<uint64_t> grid(rank), idx(rank, 0);
      for (size_t d = 0; d < rank; ++d) {
        grid[d] = (m->shape[d] + m->chunk_shape[d] - 1) / m->chunk_shape[d];
      }
      std::map<std::string, std::string> stored;
      while (true) {
        const std::string chunk_key = name + "/" + m->ChunkKey(idx);
        auto shard = view->Get(chunk_key);
        ASSERT_TRUE(shard.ok() && shard->has_value()) << chunk_key;
        stored[chunk_key] = **shard;
        const std::string chunk = InnerChunks(**shard, *m).at(0);
        uint64_t chunk_elems = chunk.size() / item;
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
          data.replace(flat * item, item, chunk, e * item, item);
        }
        size_t d = rank;
        while (d > 0 && ++idx[d - 1] == grid[d - 1]) idx[--d] = 0;
        if (d == 0) break;
      }
      auto pairs = EncodeZarrArray(name, *m, data);
      ASSERT_TRUE(pairs.ok()) << pairs.status().ToString();
      ASSERT_EQ(pairs->size(), stored.size() + 1);
      EXPECT_EQ((*pairs)[0].key, key);
      EXPECT_EQ((*pairs)[0].value, **text);
      for (size_t i = 1; i < pairs->size(); ++i) {
        const auto& kv = (*pairs)[i];
        ASSERT_TRUE(stored.count(kv.key)) << kv.key;
        EXPECT_EQ(InnerChunks(kv.value, *m), InnerChunks(stored[kv.key], *m)) << kv.key;
        if (!m->zstd) {
          EXPECT_EQ(kv.value, stored[kv.key]) << kv.key;
          ++identical_shards;
        }
      }
      ++arrays;
    }
  }
  EXPECT_GE(arrays, 7);
  EXPECT_GE(identical_shards, 2);
}

Result<ZarrArrayMetadata> RoundTrip(const ZarrArrayMetadata& m) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, EncodeZarrMetadata(m));
  return ParseZarrMetadata(text, Source{"round trip"});
}

TEST(ZarrEncodeTest, EveryDtypeAndFillValueForm) {
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(std::string(DTypeName(dtype)));
    for (bool compress : {false, true}) {
      ZarrArrayMetadata m = OrbaxZarrMetadata(dtype, {3, 5}, {2, 5}, compress);
      auto text = EncodeZarrMetadata(m);
      ASSERT_TRUE(text.ok());
      // 1-byte types: bytes codec without "endian" (TensorStore's form).
      EXPECT_EQ(text->find(R"({"name":"bytes"})") != std::string::npos, DTypeSize(dtype) == 1)
          << *text;
      EXPECT_EQ(text->find("index_location"), std::string::npos);
      EXPECT_EQ(text->find(R"({"checksum":false,"level":3})") != std::string::npos, compress);
      auto back = RoundTrip(m);
      ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << *text;
      EXPECT_EQ(back->dtype, dtype);
      EXPECT_EQ(back->fill_value, m.fill_value);
      EXPECT_EQ(back->zstd, compress);
      EXPECT_EQ(back->inner_chunk_shape, m.chunk_shape);
    }
  }
  const auto fill_text = [](DType dtype, std::string bytes) {
    ZarrArrayMetadata m = OrbaxZarrMetadata(dtype, {1}, {1});
    m.fill_value = bytes;
    auto text = EncodeZarrMetadata(m);
    const size_t at = text->find("\"fill_value\":") + 13;
    auto back = RoundTrip(m);
    EXPECT_TRUE(back.ok() && back->fill_value == bytes) << *text;
    return text->substr(at, text->find(",\"node_type\"") - at);
  };
  EXPECT_EQ(fill_text(DType::kFloat32, std::string(4, '\0')), "0.0");
  EXPECT_EQ(fill_text(DType::kInt64, std::string(8, '\0')), "0");
  EXPECT_EQ(fill_text(DType::kBool, std::string(1, '\0')), "false");
  EXPECT_EQ(fill_text(DType::kBool, "\x01"), "true");
  EXPECT_EQ(fill_text(DType::kInt16, Le(0xfffe, 2)), "-2");
  EXPECT_EQ(fill_text(DType::kUint64, Le(UINT64_MAX, 8)), "18446744073709551615");
  EXPECT_EQ(fill_text(DType::kFloat32, Le(0x3fc00000, 4)), "1.5");
  EXPECT_EQ(fill_text(DType::kFloat32, Le(0x7fc00000, 4)), "\"NaN\"");
  EXPECT_EQ(fill_text(DType::kFloat32, Le(0x7fc00001, 4)), "\"0x7fc00001\"");
  EXPECT_EQ(fill_text(DType::kFloat64, Le(0xfff0000000000000ull, 8)), "\"-Infinity\"");
  EXPECT_EQ(fill_text(DType::kBfloat16, Le(0x7f80, 2)), "\"Infinity\"");
  EXPECT_EQ(fill_text(DType::kBfloat16, Le(0x3f80, 2)), "1.0");
  EXPECT_EQ(fill_text(DType::kFloat16, Le(0x3c00, 2)), "1.0");
  EXPECT_EQ(fill_text(DType::kComplex64, Le(0x3f800000, 4) + Le(0, 4)), "[1.0,0.0]");
}

TEST(ZarrEncodeTest, KeysEdgeChunksAndScalars) {
  // int16 [3, 5], chunks [2, 4]: 2 x 2 chunks, the edge ones padded with the fill value.
  std::string data;
  for (int i = 0; i < 15; ++i) data += Le(static_cast<uint16_t>(100 + i), 2);
  ZarrArrayMetadata m = OrbaxZarrMetadata(DType::kInt16, {3, 5}, {2, 4}, false);
  m.fill_value = Le(7, 2);
  auto pairs = EncodeZarrArray("params.w", m, data);
  ASSERT_TRUE(pairs.ok()) << pairs.status().ToString();
  std::vector<std::string> keys;
  for (const auto& kv : *pairs) keys.push_back(kv.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"params.w/zarr.json", "params.w/c/0/0",
                                            "params.w/c/0/1", "params.w/c/1/0", "params.w/c/1/1"}));
  // Chunk (1, 1): rows 2..3, columns 4..7 -> only (2, 4) = 114 is inside.
  const std::string shard = (*pairs)[4].value;
  ASSERT_EQ(shard.size(), 8u * 2 + 20);
  EXPECT_EQ(shard.substr(0, 16), Le(114, 2) + Le(7, 2) + Le(7, 2) + Le(7, 2) + Le(7, 2) + Le(7, 2) +
                                     Le(7, 2) + Le(7, 2));
  EXPECT_EQ(shard.substr(16, 16), Le(0, 8) + Le(16, 8));
  EXPECT_EQ(shard.substr(32), Le(Crc32c(shard.substr(16, 16)), 4));

  // 0-d: key "c"; a bare top-level leaf has no name prefix.
  ZarrArrayMetadata scalar = OrbaxZarrMetadata(DType::kFloat64, {}, {});
  auto s = EncodeZarrArray("", scalar, Le(0x400921fb54442d18ull, 8));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0].key, "zarr.json");
  EXPECT_EQ((*s)[1].key, "c");
  EXPECT_EQ(InnerChunks((*s)[1].value, scalar).at(0), Le(0x400921fb54442d18ull, 8));

  // An empty dimension: metadata only. Wrong data size: InvalidArgument.
  auto empty = EncodeZarrArray("e", OrbaxZarrMetadata(DType::kInt8, {0, 3}, {1, 3}), "");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), 1u);
  EXPECT_EQ(EncodeZarrArray("x", m, "abc").status().code(), StatusCode::kInvalidArgument);

  // Several inner chunks per shard (not what Orbax writes, but the format allows it).
  ZarrArrayMetadata sub = OrbaxZarrMetadata(DType::kUint8, {4}, {4}, false);
  sub.inner_chunk_shape = std::vector<uint64_t>{2};
  auto subs = EncodeZarrArray("u", sub, "abcd");
  ASSERT_TRUE(subs.ok());
  EXPECT_EQ(InnerChunks((*subs)[1].value, sub), (std::vector<std::string>{"ab", "cd"}));
}

}  // namespace
}  // namespace cairn::ocdbt
