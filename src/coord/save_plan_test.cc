#include "coord/save_plan.h"

#include <gtest/gtest.h>

#include <random>

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
  plan =
      PlanWrites(Ranks({{Box{{0, 0}, {5, 8}}}, {Box{{3, 0}, {5, 8}}}, {Box{{0, 0}, {8, 2}}}}), 0);
  std::vector<int> count(64, 0);
  for (const auto& p : plan) {
    for (int64_t i = p.box.origin[0]; i < p.box.origin[0] + p.box.shape[0]; ++i) {
      for (int64_t j = p.box.origin[1]; j < p.box.origin[1] + p.box.shape[1]; ++j)
        ++count[i * 8 + j];
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
            ++count[((p.box.origin[0] - 5 + i) * 6 + p.box.origin[1] + j) * 4 + p.box.origin[2] +
                    k];
          }
        }
      }
    }
    for (int c : count) {
      ASSERT_EQ(c, 1) << "limit " << limit;
    }
    if (limit >= 960) {
      EXPECT_EQ(plan.size(), 1u);
    }
  }
}

}  // namespace cairn::coord

namespace cairn::coord {
namespace {

// `nleaves` identical float32 leaves of `shape`; rank r holds `boxes[r]` of each.
std::vector<std::vector<LeafDescriptor>> Leaves(const Shape& shape,
                                                const std::vector<std::vector<Box>>& boxes,
                                                size_t nleaves = 1) {
  std::vector<std::vector<LeafDescriptor>> all;
  for (const auto& b : boxes) {
    LeafDescriptor d;
    d.kind = "array";
    d.global_shape = shape;
    d.boxes = b;
    all.push_back(std::vector<LeafDescriptor>(nleaves, d));
  }
  return all;
}

bool ContainsPoint(const Box& box, const std::vector<int64_t>& at) {
  for (size_t d = 0; d < at.size(); ++d) {
    if (at[d] < box.origin[d] || at[d] >= box.origin[d] + box.shape[d]) return false;
  }
  return true;
}

// Paints a counter grid over the array: every element must be covered by exactly one planned
// piece, and every piece must lie in the writer's `local_piece`.
::testing::AssertionResult WrittenExactlyOnce(const std::vector<PlannedPiece>& plan,
                                              const std::vector<std::vector<LeafDescriptor>>& all,
                                              size_t leaf = 0) {
  const Shape& shape = all[0][leaf].global_shape;
  for (const PlannedPiece& p : plan) {
    if (p.rank < 0 || p.rank >= static_cast<int>(all.size())) {
      return ::testing::AssertionFailure() << "piece " << p.box.ToString() << " on rank " << p.rank;
    }
    const auto& mine = all[p.rank][leaf].boxes;
    if (p.local_piece < 0 || p.local_piece >= static_cast<int>(mine.size()) ||
        !base::Contains(mine[p.local_piece], p.box) || p.box.NumElements() == 0) {
      return ::testing::AssertionFailure()
             << "piece " << p.box.ToString() << " of rank " << p.rank
             << " is empty or not in its local piece " << p.local_piece;
    }
  }
  const int64_t n = base::NumElements(shape);
  std::vector<int64_t> at(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i;
    for (size_t d = shape.size(); d-- > 0;) {
      at[d] = rest % shape[d];
      rest /= shape[d];
    }
    int count = 0;
    for (const PlannedPiece& p : plan) count += ContainsPoint(p.box, at) ? 1 : 0;
    if (count != 1) {
      return ::testing::AssertionFailure()
             << "element " << base::ShapeString(at) << " written " << count << " times";
    }
  }
  return ::testing::AssertionSuccess();
}

const Shape kShape = {64, 32};
const Box kWhole{{0, 0}, {64, 32}};
const Box kTop{{0, 0}, {32, 32}};
const Box kBottom{{32, 0}, {32, 32}};

Box Rows(int64_t begin, int64_t count) { return Box{{begin, 0}, {count, 32}}; }

std::vector<int> Writers(const std::vector<PlannedPiece>& plan) {
  std::vector<int> ranks;
  for (const auto& p : plan) ranks.push_back(p.rank);
  return ranks;
}

TEST(ReplicaParallelPlanTest, SplitsAReplicatedArrayOverEveryHolder) {
  auto all = Leaves(kShape, {{kWhole}, {kWhole}, {kWhole}, {kWhole}});
  auto plan = PlanWrites(all, 0, ReplicaParallel{.enabled = true});
  ASSERT_EQ(plan.size(), 4u);
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(plan[r].rank, r);
    EXPECT_EQ(plan[r].local_piece, 0);
    EXPECT_EQ(plan[r].box, Rows(16 * r, 16));
  }
  EXPECT_TRUE(WrittenExactlyOnce(plan, all));
  EXPECT_EQ(BytesPerRank(plan, 4, 4), (std::vector<int64_t>{2048, 2048, 2048, 2048}));
}

TEST(ReplicaParallelPlanTest, MinSliceBytesLimitsTheWriters) {
  auto all = Leaves(kShape, {{kWhole}, {kWhole}, {kWhole}, {kWhole}});  // 8192 bytes
  // n = bytes / min_slice_bytes: just over a quarter leaves 3 writers, over a third 2, over a
  // half (or larger than the array) 1.
  auto plan = PlanWrites(all, 0, {.enabled = true, .min_slice_bytes = 2049});
  EXPECT_EQ(Writers(plan), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(plan[0].box, Rows(0, 22));
  EXPECT_EQ(plan[1].box, Rows(22, 21));
  EXPECT_EQ(plan[2].box, Rows(43, 21));
  EXPECT_TRUE(WrittenExactlyOnce(plan, all));
  plan = PlanWrites(all, 0, {.enabled = true, .min_slice_bytes = 3000});
  EXPECT_EQ(Writers(plan), (std::vector<int>{0, 1}));
  EXPECT_EQ(plan[1].box, Rows(32, 32));
  EXPECT_TRUE(WrittenExactlyOnce(plan, all));
  for (int64_t min : {5000, 8192, 1 << 20}) {
    plan = PlanWrites(all, 0, {.enabled = true, .min_slice_bytes = min});
    ASSERT_EQ(plan.size(), 1u) << min;
    EXPECT_EQ(plan[0].box, kWhole);
    EXPECT_EQ(plan[0].rank, 0);
  }
}

TEST(ReplicaParallelPlanTest, MaxReplicasLimitsTheWriters) {
  auto all = Leaves(kShape, {{kWhole}, {kWhole}, {kWhole}, {kWhole}});
  auto plan = PlanWrites(all, 0, {.enabled = true, .max_replicas = 2});
  EXPECT_EQ(Writers(plan), (std::vector<int>{0, 1}));
  EXPECT_EQ(plan[0].box, Rows(0, 32));
  EXPECT_EQ(plan[1].box, Rows(32, 32));
  EXPECT_TRUE(WrittenExactlyOnce(plan, all));
  // The smaller of the two limits wins.
  plan = PlanWrites(all, 0, {.enabled = true, .min_slice_bytes = 8192, .max_replicas = 3});
  EXPECT_EQ(plan.size(), 1u);
}

TEST(ReplicaParallelPlanTest, DisabledGivesTheOldPlan) {
  const std::vector<std::vector<std::vector<Box>>> layouts = {
      {{kWhole}, {kWhole}, {kWhole}, {kWhole}},
      {{kTop}, {kBottom}, {kTop}, {kBottom}},
      {{Rows(0, 40)}, {Rows(20, 44)}, {}, {Box{{2, 2}, {3, 3}}, kWhole}},
  };
  for (const auto& layout : layouts) {
    auto all = Leaves(kShape, layout);
    auto old_plan = PlanWrites(all, 0);
    for (ReplicaParallel rp :
         {ReplicaParallel{}, ReplicaParallel{.min_slice_bytes = 1, .max_replicas = 4}}) {
      std::vector<int64_t> load;
      auto plan = PlanWrites(all, 0, rp, &load);
      ASSERT_EQ(plan.size(), old_plan.size());
      for (size_t i = 0; i < plan.size(); ++i) {
        EXPECT_EQ(plan[i].rank, old_plan[i].rank);
        EXPECT_EQ(plan[i].local_piece, old_plan[i].local_piece);
        EXPECT_EQ(plan[i].box, old_plan[i].box);
      }
      EXPECT_EQ(load, BytesPerRank(old_plan, 4, 4));
    }
  }
  auto all = Leaves(kShape, layouts[0]);
  EXPECT_EQ(Writers(PlanWrites(all, 0, ReplicaParallel{})), (std::vector<int>{0}));
}

TEST(ReplicaParallelPlanTest, MeshHalvesAreSplitBetweenTheirHolders) {
  // A 2x2 mesh: ranks 0 and 2 hold the top half, ranks 1 and 3 the bottom half.
  auto all = Leaves(kShape, {{kTop}, {kBottom}, {kTop}, {kBottom}});
  auto plan = PlanWrites(all, 0, ReplicaParallel{.enabled = true});
  EXPECT_TRUE(WrittenExactlyOnce(plan, all));
  ASSERT_EQ(plan.size(), 4u);
  for (const auto& p : plan) {
    EXPECT_EQ(p.box.shape, (std::vector<int64_t>{16, 32}));
    const Box& half = p.rank % 2 == 0 ? kTop : kBottom;
    EXPECT_TRUE(base::Contains(half, p.box)) << p.rank << " writes " << p.box.ToString();
  }
  EXPECT_EQ(BytesPerRank(plan, 4, 4), (std::vector<int64_t>{2048, 2048, 2048, 2048}));
}

TEST(ReplicaParallelPlanTest, OverlappingUnequalPiecesAreWrittenOnce) {
  auto all = Leaves(kShape, {{Rows(0, 40)}, {Rows(20, 44)}});
  auto plan = PlanWrites(all, 0, ReplicaParallel{.enabled = true});
  EXPECT_TRUE(WrittenExactlyOnce(plan, all));
  EXPECT_EQ(BytesPerRank(plan, 4, 2), (std::vector<int64_t>{40 * 128, 24 * 128}));
  // A third rank holding everything shares both regions; a rank with several pieces writes from
  // the one containing its slice.
  all = Leaves(kShape, {{Rows(0, 40)}, {Rows(20, 44)}, {Box{{0, 0}, {1, 1}}, kWhole}});
  plan = PlanWrites(all, 0, ReplicaParallel{.enabled = true});
  EXPECT_TRUE(WrittenExactlyOnce(plan, all));
  for (const auto& p : plan) {
    if (p.rank == 2) {
      EXPECT_EQ(p.local_piece, 1);
    }
  }
  EXPECT_EQ(plan.size(), 4u);
}

TEST(ReplicaParallelPlanTest, SmallReplicatedLeavesSpreadThroughTheLoad) {
  // 8 replicated 16-byte leaves, each below min_slice_bytes: one writer each, the least loaded.
  auto all = Leaves({4}, {{Box{{0}, {4}}}, {Box{{0}, {4}}}, {Box{{0}, {4}}}, {Box{{0}, {4}}}}, 8);
  const ReplicaParallel rp{.enabled = true, .min_slice_bytes = 1024};
  std::vector<int64_t> load;
  std::vector<int> writers;
  for (size_t leaf = 0; leaf < 8; ++leaf) {
    auto plan = PlanWrites(all, leaf, rp, &load);
    ASSERT_EQ(plan.size(), 1u);
    EXPECT_TRUE(WrittenExactlyOnce(plan, all, leaf));
    writers.push_back(plan[0].rank);
  }
  EXPECT_EQ(writers, (std::vector<int>{0, 1, 2, 3, 0, 1, 2, 3}));
  EXPECT_EQ(load, (std::vector<int64_t>{32, 32, 32, 32}));
  // Without a shared load every leaf starts afresh and rank 0 writes them all.
  for (size_t leaf = 0; leaf < 8; ++leaf) {
    EXPECT_EQ(Writers(PlanWrites(all, leaf, rp)), (std::vector<int>{0}));
  }
}

TEST(ReplicaParallelPlanTest, SplitsAnInnerDimensionWhenTheOuterIsTooShort) {
  const Box whole{{0, 0}, {3, 5}};
  auto all = Leaves({3, 5}, {{whole}, {whole}, {whole}, {whole}});
  auto plan = PlanWrites(all, 0, ReplicaParallel{.enabled = true});
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[0].box, (Box{{0, 0}, {3, 2}}));
  EXPECT_EQ(plan[1].box, (Box{{0, 2}, {3, 1}}));
  EXPECT_EQ(plan[2].box, (Box{{0, 3}, {3, 1}}));
  EXPECT_EQ(plan[3].box, (Box{{0, 4}, {3, 1}}));
  EXPECT_EQ(Writers(plan), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_TRUE(WrittenExactlyOnce(plan, all));
  // No extent reaches 4: the largest (3) is cut into 3 slices.
  const Box small{{0, 0}, {2, 3}};
  all = Leaves({2, 3}, {{small}, {small}, {small}, {small}});
  plan = PlanWrites(all, 0, ReplicaParallel{.enabled = true});
  EXPECT_EQ(plan.size(), 3u);
  EXPECT_TRUE(WrittenExactlyOnce(plan, all));
  const Box one{{0, 0}, {1, 1}};
  all = Leaves({1, 1}, {{one}, {one}, {one}, {one}});
  EXPECT_EQ(PlanWrites(all, 0, ReplicaParallel{.enabled = true}).size(), 1u);
}

TEST(ReplicaParallelPlanTest, ZeroDimensionalAndEmptyArrays) {
  auto all = Leaves({}, {{Box{}}, {Box{}}, {Box{}}, {Box{}}});
  std::vector<int64_t> load = {5, 0, 3, 0};
  auto plan = PlanWrites(all, 0, ReplicaParallel{.enabled = true}, &load);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].rank, 1);  // the least loaded, lowest of the tie
  EXPECT_TRUE(WrittenExactlyOnce(plan, all));
  EXPECT_EQ(load, (std::vector<int64_t>{5, 4, 3, 0}));
  const Box empty{{0, 0}, {0, 4}};
  all = Leaves({0, 4}, {{empty}, {empty}});
  EXPECT_TRUE(PlanWrites(all, 0, ReplicaParallel{.enabled = true}).empty());
}

TEST(ReplicaParallelPlanTest, RandomLayoutsAreWrittenExactlyOnce) {
  // Random pieces over 4 ranks covering an 8x6 array (one rank holds all of it, so nothing is
  // missing; others often do too), random limits: every element once, every slice in its writer's
  // piece.
  std::mt19937 rng(12345);
  auto random_box = [&] {
    int64_t r0 = rng() % 8, c0 = rng() % 6;
    return Box{{r0, c0}, {1 + int64_t(rng() % (8 - r0)), 1 + int64_t(rng() % (6 - c0))}};
  };
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::vector<Box>> boxes(4);
    for (int r = 0; r < 3; ++r) {
      for (int p = rng() % 3; p > 0; --p) boxes[r].push_back(random_box());
      if (rng() % 3 == 0) boxes[r].push_back(Box{{0, 0}, {8, 6}});  // more replicas
    }
    boxes[3] = {Box{{0, 0}, {8, 6}}};
    if (rng() % 2) std::swap(boxes[3], boxes[rng() % 3]);
    auto all = Leaves({8, 6}, boxes);
    const ReplicaParallel rp{.enabled = true,
                             .min_slice_bytes = static_cast<int64_t>(rng() % 64),
                             .max_replicas = static_cast<int>(rng() % 5)};
    std::vector<int64_t> load;
    auto plan = PlanWrites(all, 0, rp, &load);
    ASSERT_TRUE(WrittenExactlyOnce(plan, all)) << "trial " << trial;
    EXPECT_EQ(load, BytesPerRank(plan, 4, 4));
  }
}

}  // namespace
}  // namespace cairn::coord
