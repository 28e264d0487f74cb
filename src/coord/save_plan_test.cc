#include "coord/save_plan.h"

#include <gtest/gtest.h>

#include "base/box_ops.h"

namespace cairn::coord {
namespace {

std::vector<std::vector<LeafDescriptor>> Ranks(const std::vector<std::vector<Box>>& boxes) {
  std::vector<std::vector<LeafDescriptor>> all;
  for (const auto& b : boxes) {
    LeafDescriptor d;
    d.kind = "array";
    d.global_shape = {8, 8};
    d.boxes = b;
    all.push_back({d});
  }
  return all;
}

TEST(SavePlanTest, EveryElementWrittenExactlyOnce) {
  Box whole{{0, 0}, {8, 8}};
  // Replicas, overlaps and a rank holding nothing.
  auto plan = PlanWrites(Ranks({{whole}, {whole}, {}, {Box{{2, 2}, {3, 3}}}}), 0);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].rank, 0);
  plan = PlanWrites(Ranks({{Box{{0, 0}, {5, 8}}}, {Box{{3, 0}, {5, 8}}}, {Box{{0, 0}, {8, 2}}}}), 0);
  std::vector<int> count(64, 0);
  for (const auto& p : plan) {
    for (int64_t i = p.box.origin[0]; i < p.box.origin[0] + p.box.shape[0]; ++i) {
      for (int64_t j = p.box.origin[1]; j < p.box.origin[1] + p.box.shape[1]; ++j) ++count[i * 8 + j];
    }
  }
  for (int c : count) EXPECT_EQ(c, 1);
}

TEST(SavePlanTest, ChunkShapes) {
  EXPECT_EQ(GreedyChunkShape({1024, 1024}, 4, 1 << 20), (Shape{512, 512}));
  EXPECT_EQ(GreedyChunkShape({3, 1000}, 8, 800), (Shape{3, 32}));
  LeafDescriptor d;
  d.global_shape = {};
  EXPECT_FALSE(ChooseChunkShape(d, true, {}));
  d.global_shape = {0, 4};
  EXPECT_FALSE(ChooseChunkShape(d, true, {}));
  d.global_shape = {100, 10};
  d.stored_dtype = DType::kFloat32;
  EXPECT_FALSE(ChooseChunkShape(d, false, {}));
  EXPECT_EQ(ChooseChunkShape(d, true, {{0, 0, Box{{0, 0}, {50, 10}}}}), (Shape{50, 10}));
  d.chunk_byte_size = 400;
  EXPECT_EQ(ChooseChunkShape(d, false, {}), (Shape{7, 10}));
}

}  // namespace
TEST(SavePlanTest, SplitPiecesFitTheLimitAndCoverThePieceOnce) {
  // 10 x 6 x 4 float32 = 960 bytes; a 100-byte limit splits rows (96 bytes per [1,6,4] row is
  // too large for 2 rows) and a 20-byte limit splits inside rows.
  for (int64_t limit : {100, 20, 3, 960, 100000}) {
    std::vector<PlannedPiece> plan = {{1, 0, Box{{5, 0, 0}, {10, 6, 4}}}};
    SplitPlannedPieces(plan, 4, limit);
    std::vector<int> count(10 * 6 * 4, 0);
    for (const auto& p : plan) {
      EXPECT_EQ(p.rank, 1);
      EXPECT_LE(p.box.NumElements() * 4, std::max<int64_t>(limit, 4)) << p.box.ToString();
      for (int64_t i = 0; i < p.box.shape[0]; ++i) {
        for (int64_t j = 0; j < p.box.shape[1]; ++j) {
          for (int64_t k = 0; k < p.box.shape[2]; ++k) {
            ++count[((p.box.origin[0] - 5 + i) * 6 + p.box.origin[1] + j) * 4 + p.box.origin[2] + k];
          }
        }
      }
    }
    for (int c : count) ASSERT_EQ(c, 1) << "limit " << limit;
    if (limit >= 960) EXPECT_EQ(plan.size(), 1u);
  }
}

}  // namespace cairn::coord
