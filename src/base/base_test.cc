#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "base/box_ops.h"
#include "base/checksum.h"
#include "base/convert.h"
#include "cairn/dtype.h"
#include "cairn/tree.h"

namespace cairn::base {
namespace {

TEST(DTypeTest, ZarrNamesRoundTrip) {
  for (DType d : kAllDTypes) {
    auto back = DTypeFromName(DTypeName(d));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, d);
  }
  EXPECT_EQ(DTypeName(DType::kBfloat16), "bfloat16");
  EXPECT_EQ(DTypeSize(DType::kComplex128), 16u);
  EXPECT_EQ(DTypeFromName("float128").status().code(), StatusCode::kInvalidArgument);
}

TEST(BoxTest, IntersectSubtractCover) {
  Box a{{0, 0}, {4, 4}}, b{{2, 1}, {4, 2}};
  auto i = Intersect(a, b);
  ASSERT_TRUE(i);
  EXPECT_EQ(*i, (Box{{2, 1}, {2, 2}}));
  int64_t n = 0;
  for (const Box& r : Subtract(a, b)) {
    EXPECT_FALSE(Intersect(r, b));
    n += r.NumElements();
  }
  EXPECT_EQ(n, 16 - 4);
  EXPECT_TRUE(Subtract(a, a).empty());
  EXPECT_EQ(Subtract(a, Box{{5, 5}, {1, 1}}).size(), 1u);
  Box zero_d{{}, {}};
  EXPECT_TRUE(Intersect(zero_d, zero_d));
  EXPECT_TRUE(Subtract(zero_d, zero_d).empty());
}

TEST(BoxTest, CopyRegionBetweenLayouts) {
  // src holds rows 0..3 of a 4x5 array; dst holds columns 1..3 of it.
  std::vector<int> src(20), dst(12, -1);
  for (int i = 0; i < 20; ++i) src[i] = i;
  Box sb{{0, 0}, {4, 5}}, db{{0, 1}, {4, 3}};
  CopyRegion(src.data(), sb, dst.data(), db, db, sizeof(int));
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(dst[r * 3 + c], r * 5 + c + 1);
  }
  std::vector<std::pair<int64_t, int64_t>> runs;
  ForEachRun(sb, Box{{1, 0}, {2, 5}}, [&](int64_t o, int64_t l) { runs.emplace_back(o, l); });
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], std::make_pair(int64_t{5}, int64_t{10}));
}

TEST(ConvertTest, HalfAndBfloat16) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f}) {
    EXPECT_EQ(HalfToFloat(FloatToHalf(f)), f) << f;
  }
  EXPECT_TRUE(std::isinf(HalfToFloat(FloatToHalf(1e6f))));
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(NAN))));
  EXPECT_EQ(Bfloat16ToFloat(FloatToBfloat16(1.5f)), 1.5f);
  EXPECT_EQ(FloatToBfloat16(1.00390625f), 0x3f80);  // ties to even
  EXPECT_TRUE(std::isnan(Bfloat16ToFloat(FloatToBfloat16(NAN))));
}

TEST(ConvertTest, ExactnessTable) {
  EXPECT_TRUE(IsExactCast(DType::kInt16, DType::kInt32));
  EXPECT_TRUE(IsExactCast(DType::kInt16, DType::kFloat32));
  EXPECT_FALSE(IsExactCast(DType::kInt32, DType::kFloat32));  // 2^24 + 1
  EXPECT_TRUE(IsExactCast(DType::kInt32, DType::kFloat64));
  EXPECT_FALSE(IsExactCast(DType::kFloat32, DType::kInt64));
  EXPECT_FALSE(IsExactCast(DType::kFloat32, DType::kFloat16));
  EXPECT_TRUE(IsExactCast(DType::kBfloat16, DType::kFloat32));
  EXPECT_FALSE(IsExactCast(DType::kFloat16, DType::kBfloat16));
  EXPECT_TRUE(IsExactCast(DType::kUint8, DType::kInt16));
  EXPECT_FALSE(IsExactCast(DType::kInt8, DType::kUint64));
  EXPECT_TRUE(IsExactCast(DType::kFloat32, DType::kComplex64));
  EXPECT_FALSE(IsExactCast(DType::kComplex64, DType::kFloat64));
}

TEST(ConvertTest, ValuesSaturateAndTruncate) {
  float in[4] = {1.9f, -1.9f, 1e10f, NAN};
  int8_t out[4];
  ConvertElements(DType::kFloat32, in, DType::kInt8, out, 4);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[1], -1);
  EXPECT_EQ(out[2], 127);
  EXPECT_EQ(out[3], 0);
  int32_t big = 16777217;
  float f;
  ConvertElements(DType::kInt32, &big, DType::kFloat32, &f, 1);
  EXPECT_EQ(f, 16777216.0f);
}

TEST(ChecksumTest, HexRoundTrip) {
  uint64_t v = Xxh3("abc", 3), back = 0;
  EXPECT_TRUE(ChecksumFromHex(ChecksumToHex(v), &back));
  EXPECT_EQ(back, v);
  EXPECT_FALSE(ChecksumFromHex("0x12", &back));
  EXPECT_FALSE(ChecksumFromHex("zz0000000000000000", &back));
}

TEST(TreeTest, KeyPathsRenderLikeOrbax) {
  Tree t;
  float x = 0;
  t["params"]["dense"]["kernel"] = DistributedArray::Replicated(DType::kFloat32, {}, &x);
  t["layers"] = Tree::MakeList();
  t["layers"].Append(Scalar(1));
  std::vector<std::string> keys;
  t.ForEachLeaf([&](const KeyPath& p, const Leaf&) { keys.push_back(KeyPathString(p)); });
  EXPECT_EQ(keys, (std::vector<std::string>{"layers.0", "params.dense.kernel"}));
  Tree u;
  ASSERT_TRUE(u.Insert({{"a", false}, {"0", true}, {"b", false}}, Scalar(2.0)).ok());
  ASSERT_NE(u.Find({{"a", false}, {"0", true}, {"b", false}}), nullptr);
  EXPECT_FALSE(u.Insert({{"a", false}, {"x", false}}, Scalar(1)).ok());
}

}  // namespace
}  // namespace cairn::base
