#include "storage/ocdbt/chunk_plan.h"

#include <gtest/gtest.h>

namespace cairn::storage {
namespace {

std::vector<PlacedPiece> Rows(const std::vector<std::pair<int64_t, int64_t>>& spans,
                              int64_t cols = 0) {
  std::vector<PlacedPiece> out;
  int rank = 0;
  for (const auto& [begin, count] : spans) {
    PlacedPiece p;
    p.rank = rank++;
    p.box = cols > 0 ? Box{{begin, 0}, {count, cols}} : Box{{begin}, {count}};
    out.push_back(p);
  }
  return out;
}

using Grid = std::vector<uint64_t>;

TEST(ChunkPlanTest, EvenBlocksAreTheirOwnChunks) {
  const ChunkPlan p = PlanChunks({8, 3}, 4, std::nullopt, Rows({{0, 2}, {2, 2}, {4, 2}, {6, 2}}, 3));
  EXPECT_EQ(p.chunk_shape, (Grid{2, 3}));
  EXPECT_TRUE(p.shared.empty());
  ASSERT_EQ(p.touches.size(), 4u);
  for (const auto& t : p.touches) EXPECT_TRUE(t.empty());
}

TEST(ChunkPlanTest, AShorterLastBlockIsClippedNotAGcd) {
  // JAX's split of 10 over 4 devices: 3, 3, 3, 1.
  const ChunkPlan p = PlanChunks({10}, 4, std::nullopt, Rows({{0, 3}, {3, 3}, {6, 3}, {9, 1}}));
  EXPECT_EQ(p.chunk_shape, Grid{3});
  EXPECT_TRUE(p.shared.empty());
}

TEST(ChunkPlanTest, UnevenBlocksGetPieceSizedChunksAndSharedOnes) {
  // 100 over 3: 34, 33, 33. The aligned grid would be one element.
  const ChunkPlan p = PlanChunks({100}, 4, std::nullopt, Rows({{0, 34}, {34, 33}, {67, 33}}));
  EXPECT_EQ(p.chunk_shape, Grid{34});
  // Chunk 1 = [34, 68): 33 elements of rank 1, one of rank 2. Chunk 2 = [68, 100) lies whole
  // in rank 2's piece (clipped at the end).
  ASSERT_EQ(p.shared.size(), 1u);
  EXPECT_EQ(p.shared[0].index, Grid{1});
  EXPECT_EQ(p.shared[0].box, (Box{{34}, {34}}));
  EXPECT_EQ(p.shared[0].owner, 1);
  EXPECT_EQ(p.shared[0].held, 34);
  EXPECT_EQ(p.touches, (std::vector<std::vector<size_t>>{{}, {0}, {0}}));
}

TEST(ChunkPlanTest, GapsMakeSharedChunksWithOneHolder) {
  const ChunkPlan p = PlanChunks({80}, 1, std::nullopt, Rows({{3, 34}, {43, 34}}));
  EXPECT_EQ(p.chunk_shape, Grid{34});
  // [0,34) [34,68) [68,80): the first holds rank 0's 3..33, the second rank 0's 34..36 and
  // rank 1's 43..67, the third rank 1's 68..76.
  ASSERT_EQ(p.shared.size(), 3u);
  EXPECT_EQ(p.shared[0].owner, 0);
  EXPECT_EQ(p.shared[1].owner, 1);
  EXPECT_EQ(p.shared[2].owner, 1);
  EXPECT_EQ(p.shared[2].box, (Box{{68}, {12}}));
  EXPECT_EQ(p.shared[0].held, 31);
  EXPECT_EQ(p.shared[1].held, 3 + 25);
  EXPECT_EQ(p.shared[2].held, 9);
  EXPECT_EQ(p.touches, (std::vector<std::vector<size_t>>{{0, 1}, {1, 2}}));
}

TEST(ChunkPlanTest, CapBoundsThePieceGrid) {
  const ChunkPlan p = PlanChunks({100}, 4, Shape{10}, Rows({{0, 34}, {34, 33}, {67, 33}}));
  EXPECT_EQ(p.chunk_shape, Grid{10});
}

TEST(ChunkPlanTest, SlightlyFinerAlignedGridsAndLargeAlignedChunksStay) {
  // 3, 3, 2, 2: the aligned grid (1) has only 3x the chunks of the piece grid (3).
  EXPECT_EQ(PlanChunks({10}, 4, std::nullopt, Rows({{0, 3}, {3, 3}, {6, 2}, {8, 2}})).chunk_shape,
            Grid{1});
  // Aligned chunks of 1 Mi float32 (4 MiB) stay although the pieces are 9x larger.
  const int64_t m = int64_t{1} << 20;
  const ChunkPlan p =
      PlanChunks({26 * m}, 4, std::nullopt, Rows({{0, 9 * m}, {9 * m, 8 * m}, {17 * m, 9 * m}}));
  EXPECT_EQ(p.chunk_shape, Grid{static_cast<uint64_t>(m)});
  EXPECT_TRUE(p.shared.empty());
}

TEST(ChunkPlanTest, TwoDimensionalBlocksEndingAtTheEdgeStayAligned) {
  // 7 x 7 in 2 x 2 blocks of 4/3 rows and 3/4 columns: the last block of each dimension ends at
  // the array's end, so the aligned grid is 4 x 3, not much finer than the piece grid (4 x 4).
  std::vector<PlacedPiece> pieces;
  const int64_t r[2][2] = {{0, 4}, {4, 3}}, c[2][2] = {{0, 3}, {3, 4}};
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 2; ++j) {
      PlacedPiece p;
      p.rank = i * 2 + j;
      p.box = Box{{r[i][0], c[j][0]}, {r[i][1], c[j][1]}};
      pieces.push_back(p);
    }
  }
  const ChunkPlan p = PlanChunks({7, 7}, 1, std::nullopt, pieces);
  EXPECT_EQ(p.chunk_shape, (Grid{4, 3}));
  EXPECT_TRUE(p.shared.empty());
}

TEST(ChunkPlanTest, ZeroDimensional) {
  PlacedPiece p;
  const ChunkPlan plan = PlanChunks({}, 8, std::nullopt, std::vector<PlacedPiece>{p});
  EXPECT_TRUE(plan.chunk_shape.empty());
  EXPECT_TRUE(plan.shared.empty());
}

TEST(ChunkPlanTest, GatherPiecesSkipsEmptyPiecesAndKeepsIndices) {
  std::vector<WriteLeaf> leaves(2);
  leaves[0].global_shape = {10, 2};
  leaves[0].pieces.resize(3);
  leaves[0].pieces[0].box = Box{{0, 0}, {0, 2}};
  leaves[0].pieces[1].box = Box{{0, 0}, {4, 2}};
  leaves[0].pieces[2].box = Box{{4, 0}, {6, 2}};
  leaves[1].global_shape = {};
  leaves[1].pieces.resize(1);
  auto comm = SelfCommunicator();
  auto placed = GatherPieces(*comm, leaves);
  ASSERT_TRUE(placed.ok()) << placed.status().ToString();
  ASSERT_EQ(placed->size(), 2u);
  ASSERT_EQ((*placed)[0].size(), 2u);
  EXPECT_EQ((*placed)[0][0].index, 1u);
  EXPECT_EQ((*placed)[0][1].index, 2u);
  EXPECT_EQ((*placed)[0][1].box, (Box{{4, 0}, {6, 2}}));
  ASSERT_EQ((*placed)[1].size(), 1u);
  EXPECT_EQ((*placed)[1][0].rank, 0);
}

}  // namespace
}  // namespace cairn::storage
