#include "format/metadata_json.h"

#include <gtest/gtest.h>

namespace cairn::format {
namespace {

TEST(MetadataJsonTest, ItemMetadataRoundTrips) {
  ItemMetadata m;
  m.backend = "hdf5";
  LeafMetadata a;
  a.key_path = {{"params", false}, {"0", true}, {"w", false}};
  a.kind = "array";
  a.dtype = DType::kBfloat16;
  a.source_dtype = DType::kFloat32;
  a.global_shape = {4, 6};
  a.chunk_shape = Shape{2, 6};
  a.compressed = true;
  a.pieces.push_back({Box{{0, 0}, {2, 6}}, 0xdeadbeefcafef00dull, 1, nullptr});
  m.leaves.push_back(a);
  LeafMetadata s;
  s.key_path = {{"step", false}};
  s.kind = "scalar";
  s.value = Leaf(Scalar(int64_t{-5}));
  m.leaves.push_back(s);
  LeafMetadata j;
  j.key_path = {{"cfg", false}};
  j.kind = "json";
  j.value = Leaf(nlohmann::json{{"a", 1}});
  m.leaves.push_back(j);
  auto back = DecodeItemMetadata(EncodeItemMetadata(m), "x");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->leaves.size(), 3u);
  const LeafMetadata& b = back->leaves[0];
  EXPECT_EQ(KeyPathString(b.key_path), "params.0.w");
  EXPECT_TRUE(b.key_path[1].is_index);
  EXPECT_EQ(b.dtype, DType::kBfloat16);
  EXPECT_EQ(b.source_dtype, DType::kFloat32);
  EXPECT_EQ(b.chunk_shape, (Shape{2, 6}));
  EXPECT_EQ(b.pieces[0].xxh3, 0xdeadbeefcafef00dull);
  EXPECT_EQ(b.pieces[0].writer_rank, 1);
  EXPECT_EQ(std::get<Scalar>(*back->leaves[1].value).as<int64_t>(), -5);
  EXPECT_EQ(std::get<nlohmann::json>(*back->leaves[2].value)["a"], 1);
  Tree t = back->ToTree();
  EXPECT_EQ(t.NumLeaves(), 3u);
}

TEST(MetadataJsonTest, MalformedInputIsDataLossNamingTheFile) {
  for (std::string bad : {"", "[]", "{\"format\":\"cairn\"}", "{\"format\":\"cairn\",\"format_version\":1,"
        "\"backend\":\"hdf5\",\"leaves\":[{\"keys\":[{\"key\":\"a\",\"type\":\"map\"}],\"kind\":\"array\","
        "\"dtype\":\"float32\",\"global_shape\":[4],\"chunk_shape\":null,\"compression\":null,"
        "\"pieces\":[{\"origin\":[2],\"shape\":[3],\"xxh3\":\"0x0000000000000000\",\"writer_rank\":0}]}]}",
        "{\"format\":\"cairn\",\"format_version\":\"x\"}"}) {
    auto r = DecodeItemMetadata(bad, "/ckpt/default/_METADATA");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
    EXPECT_NE(r.status().message().find("/ckpt/default/_METADATA"), std::string::npos);
  }
}

}  // namespace
}  // namespace cairn::format
