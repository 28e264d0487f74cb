#include "coord/replica_plan.h"

#include <gtest/gtest.h>

namespace cairn::coord {
namespace {

using Members = std::vector<std::pair<int, int>>;

const Box kWhole{{0, 0}, {64, 32}};
const Box kTop{{0, 0}, {32, 32}};
const Box kBottom{{32, 0}, {32, 32}};

TEST(LoadAndBroadcastPlanTest, ReplicatedArrayIsOneGroup) {
  const std::vector<std::vector<Box>> boxes = {{kWhole}, {kWhole}, {kWhole}, {kWhole}};
  auto groups = PlanLoadAndBroadcast(boxes, {}, 0);
  ASSERT_TRUE(groups.ok()) << groups.status().message();
  ASSERT_EQ(groups->size(), 1u);
  EXPECT_EQ((*groups)[0].box, kWhole);
  EXPECT_EQ((*groups)[0].members, (Members{{0, 0}, {1, 0}, {2, 0}, {3, 0}}));
  // Without a mesh, replica i is the i-th holder in rank order.
  groups = PlanLoadAndBroadcast(boxes, {}, 2);
  ASSERT_TRUE(groups.ok()) << groups.status().message();
  EXPECT_EQ((*groups)[0].members, (Members{{2, 0}, {0, 0}, {1, 0}, {3, 0}}));
  EXPECT_EQ(DistinctMemberSets(*groups), (std::vector<std::vector<int>>{{0, 1, 2, 3}}));
  groups = PlanLoadAndBroadcast(boxes, {}, 4);
  ASSERT_FALSE(groups.ok());
  EXPECT_EQ(groups.status().code(), StatusCode::kInvalidArgument);
}

TEST(LoadAndBroadcastPlanTest, MeshReplicaAxisPicksTheReaders) {
  // Mesh {2, 2} over ranks 0..3, replicas along axis 0: replica 0 = ranks 0, 1; replica 1 =
  // ranks 2, 3. Ranks 0 and 2 hold the top half, 1 and 3 the bottom half.
  auto ids = ReplicaIds(RankMesh{.shape = {2, 2}, .ranks = {0, 1, 2, 3}}, 0, 4);
  ASSERT_TRUE(ids.ok()) << ids.status().message();
  EXPECT_EQ(*ids, (std::vector<int>{0, 0, 1, 1}));
  // The bottom half listed second on rank 3, after a piece held once.
  const std::vector<std::vector<Box>> boxes = {
      {kTop}, {kBottom}, {kTop}, {Box{{0, 0}, {1, 1}}, kBottom}};
  auto groups = PlanLoadAndBroadcast(boxes, *ids, 0);
  ASSERT_TRUE(groups.ok()) << groups.status().message();
  ASSERT_EQ(groups->size(), 2u);  // the 1x1 box is held once: no group
  EXPECT_EQ((*groups)[0].box, kTop);
  EXPECT_EQ((*groups)[0].members, (Members{{0, 0}, {2, 0}}));
  EXPECT_EQ((*groups)[1].box, kBottom);
  EXPECT_EQ((*groups)[1].members, (Members{{1, 0}, {3, 1}}));
  EXPECT_EQ(DistinctMemberSets(*groups), (std::vector<std::vector<int>>{{0, 2}, {1, 3}}));

  groups = PlanLoadAndBroadcast(boxes, *ids, 1);
  ASSERT_TRUE(groups.ok()) << groups.status().message();
  ASSERT_EQ(groups->size(), 2u);
  EXPECT_EQ((*groups)[0].members, (Members{{2, 0}, {0, 0}}));
  EXPECT_EQ((*groups)[1].members, (Members{{3, 1}, {1, 0}}));

  groups = PlanLoadAndBroadcast(boxes, *ids, 5);
  ASSERT_FALSE(groups.ok());
  EXPECT_EQ(groups.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(groups.status().message().find("primary_replica_id 5"), std::string::npos)
      << groups.status().message();
  EXPECT_NE(groups.status().message().find(kTop.ToString()), std::string::npos)
      << groups.status().message();

  // Replicas along axis 1 instead: replica 0 = ranks 0, 2.
  ids = ReplicaIds(RankMesh{.shape = {2, 2}, .ranks = {0, 1, 2, 3}}, 1, 4);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int>{0, 1, 0, 1}));
}

TEST(LoadAndBroadcastPlanTest, BoxesHeldOnceFormNoGroup) {
  auto groups = PlanLoadAndBroadcast({{kTop}, {kBottom}, {}, {Box{{0, 0}, {0, 32}}}}, {}, 0);
  ASSERT_TRUE(groups.ok()) << groups.status().message();
  EXPECT_TRUE(groups->empty());
  // Overlapping but unequal boxes are not replicas either; an empty box is never grouped.
  groups = PlanLoadAndBroadcast({{kWhole}, {kTop}, {Box{{0, 0}, {0, 32}}}, {Box{{0, 0}, {0, 32}}}},
                                {}, 0);
  ASSERT_TRUE(groups.ok()) << groups.status().message();
  EXPECT_TRUE(groups->empty());
  EXPECT_TRUE(DistinctMemberSets(*groups).empty());
}

TEST(LoadAndBroadcastPlanTest, GroupsAreOrderedByBox) {
  // Rank order of the input does not matter: groups come by origin, then shape.
  const Box small{{0, 0}, {16, 32}};
  auto groups = PlanLoadAndBroadcast({{kBottom, kTop}, {kTop, small, kBottom}, {small}}, {}, 0);
  ASSERT_TRUE(groups.ok()) << groups.status().message();
  ASSERT_EQ(groups->size(), 3u);
  EXPECT_EQ((*groups)[0].box, small);
  EXPECT_EQ((*groups)[0].members, (Members{{1, 1}, {2, 0}}));
  EXPECT_EQ((*groups)[1].box, kTop);
  EXPECT_EQ((*groups)[1].members, (Members{{0, 1}, {1, 0}}));
  EXPECT_EQ((*groups)[2].box, kBottom);
  EXPECT_EQ((*groups)[2].members, (Members{{0, 0}, {1, 2}}));
  EXPECT_EQ(DistinctMemberSets(*groups), (std::vector<std::vector<int>>{{1, 2}, {0, 1}}));
}

TEST(LoadAndBroadcastPlanTest, BadInputsAreInvalidArgument) {
  const std::vector<std::vector<Box>> boxes = {{kWhole}, {kWhole}};
  EXPECT_EQ(PlanLoadAndBroadcast(boxes, {0, 0, 1}, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanLoadAndBroadcast(boxes, {}, -1).status().code(), StatusCode::kInvalidArgument);
}

TEST(ReplicaIdsTest, BadMeshOrAxisIsInvalidArgument) {
  const std::vector<std::pair<RankMesh, int>> bad = {
      {RankMesh{}, 0},                                        // no axes
      {RankMesh{.shape = {2, 2}, .ranks = {0, 1, 2}}, 0},     // too few ranks
      {RankMesh{.shape = {2, 2}, .ranks = {0, 1, 2, 2}}, 0},  // a rank twice
      {RankMesh{.shape = {2, 2}, .ranks = {0, 1, 2, 4}}, 0},  // out of range
      {RankMesh{.shape = {0, 4}, .ranks = {}}, 0},            // an empty axis
      {RankMesh{.shape = {2, 2}, .ranks = {0, 1, 2, 3}}, 2},  // no such axis
      {RankMesh{.shape = {2, 2}, .ranks = {0, 1, 2, 3}}, -1},
  };
  for (const auto& [mesh, axis] : bad) {
    auto ids = ReplicaIds(mesh, axis, 4);
    ASSERT_FALSE(ids.ok()) << "axis " << axis;
    EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_FALSE(ReplicaIds(RankMesh{.shape = {2, 2}, .ranks = {0, 1, 2, 3}}, 0, 8).ok());
}

TEST(ReplicaIdsTest, PermutedMeshAndThreeAxes) {
  // Ranks placed in a permuted order: rank 3 at (0, 0), 2 at (0, 1), 1 at (1, 0), 0 at (1, 1).
  auto ids = ReplicaIds(RankMesh{.shape = {2, 2}, .ranks = {3, 2, 1, 0}}, 0, 4);
  ASSERT_TRUE(ids.ok()) << ids.status().message();
  EXPECT_EQ(*ids, (std::vector<int>{1, 1, 0, 0}));
  // {2, 3, 2}: the coordinate along the middle axis of position i is (i / 2) % 3.
  RankMesh mesh{.shape = {2, 3, 2}};
  for (int i = 0; i < 12; ++i) mesh.ranks.push_back(i);
  ids = ReplicaIds(mesh, 1, 12);
  ASSERT_TRUE(ids.ok()) << ids.status().message();
  EXPECT_EQ(*ids, (std::vector<int>{0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2}));
}

}  // namespace
}  // namespace cairn::coord
