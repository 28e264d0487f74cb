// CheckpointManager at 1, 2 and 4 ranks: steps, restarts, save decisions, preservation on disk,
// trash, step names, metadata, preemption agreement.
#include <fstream>
#include <set>
#include <thread>

#include "mpi_tests/test_util.h"

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A row-block float64 array whose element i (global, flattened) holds step * 1000 + i.
struct Model {
  Shape shape{12, 3};
  std::vector<double> data;
  DistributedArray array;

  Model(int rank, int size, double step) {
    const Box b = RowBlock(shape, rank, size);
    data.resize(static_cast<size_t>(b.NumElements()));
    for (int64_t r = 0; r < b.shape[0]; ++r) {
      for (int64_t c = 0; c < 3; ++c) {
        data[static_cast<size_t>(r * 3 + c)] =
            step * 1000 + static_cast<double>((b.origin[0] + r) * 3 + c);
      }
    }
    array = DistributedArray{DType::kFloat64, shape, {{b, data.data()}}};
  }
  Tree AsTree(int64_t step) const {
    Tree t;
    t["params"]["w"] = array;
    t["step"] = Scalar(step);
    return t;
  }
};

// Every test runs with synchronous and with asynchronous saves (the default).
class ManagerTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    comm_ = World();
    rank_ = comm_->rank();
    size_ = comm_->size();
    PreemptionWatcher::ClearRequest();
  }
  void TearDown() override { PreemptionWatcher::ClearRequest(); }

  CheckpointManagerOptions Base() const {
    CheckpointManagerOptions o;
    o.save_options.array.use_compression = false;
    o.enable_async_checkpointing = GetParam();
    return o;
  }
  std::unique_ptr<CheckpointManager> Open(CheckpointManagerOptions o, const fs::path& dir,
                                          json metadata = json::object()) {
    auto m = CheckpointManager::Create(comm_, dir, std::move(o), std::move(metadata));
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  }
  Status SaveModel(CheckpointManager& m, int64_t step, bool* saved = nullptr,
                   std::optional<json> metrics = std::nullopt) {
    Model model(rank_, size_, static_cast<double>(step));
    auto r = m.Save(step, StandardSave{model.AsTree(step)}, {.metrics = metrics});
    if (saved && r.ok()) *saved = *r;
    if (!r.ok()) return r.status();
    return m.WaitUntilFinished();
  }
  // Restores `step` and checks every value encodes it.
  void ExpectModel(CheckpointManager& m, std::optional<int64_t> step, int64_t expected) {
    Model back(rank_, size_, -1);
    Tree t = back.AsTree(-1);
    Status st = m.Restore(step, StandardRestore{&t});
    ASSERT_TRUE(st.ok()) << st.ToString();
    Model want(rank_, size_, static_cast<double>(expected));
    EXPECT_EQ(back.data, want.data) << "step " << expected;
    EXPECT_EQ(std::get<Scalar>(t["step"].leaf()).as<int64_t>(), expected);
  }
  // Directory entries of `dir` (names), as seen by rank 0, on every rank.
  std::set<std::string> Entries(const fs::path& dir) {
    std::string names;
    if (rank_ == 0) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(dir, ec))
        names += e.path().filename().string() + "\n";
    }
    std::string all = names;
    EXPECT_TRUE(comm_->Broadcast(all, 0).ok());
    std::set<std::string> out;
    size_t pos = 0;
    while (pos < all.size()) {
      size_t eol = all.find('\n', pos);
      out.insert(all.substr(pos, eol - pos));
      pos = eol + 1;
    }
    return out;
  }
  std::set<std::string> StepDirs(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& n : Entries(dir)) {
      if (n != "metadata" && n.find(".cairn-tmp-") == std::string::npos) out.insert(n);
    }
    return out;
  }

  std::shared_ptr<Communicator> comm_;
  SharedTempDir dir_;
  int rank_ = 0, size_ = 1;
};

TEST_P(ManagerTest, SavesOnIntervalAndResumesInANewManager) {
  const fs::path root = dir_.path() / "run";
  {
    auto o = Base();
    o.save_interval_steps = 3;
    auto m = Open(o, root);
    ASSERT_NE(m, nullptr);
    EXPECT_FALSE(m->LatestStep().has_value());
    std::vector<int64_t> saved;
    for (int64_t step = 1; step <= 10; ++step) {
      bool did = false;
      ASSERT_TRUE(SaveModel(*m, step, &did).ok());
      if (did) saved.push_back(step);
    }
    // Step 1 is the initial save (InitialSavePolicy), then every multiple of 3.
    EXPECT_EQ(saved, (std::vector<int64_t>{1, 3, 6, 9}));
    EXPECT_EQ(m->AllSteps(), saved);
    EXPECT_EQ(m->LatestStep(), 9);
    ASSERT_TRUE(m->Close().ok());
  }
  // A new manager (as a restarted job) sees the same steps and resumes from the latest.
  auto m = Open(Base(), root);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->AllSteps(), (std::vector<int64_t>{1, 3, 6, 9}));
  ExpectModel(*m, std::nullopt, 9);
  ExpectModel(*m, 3, 3);
  EXPECT_EQ(StepDirs(root), (std::set<std::string>{"1", "3", "6", "9"}));
}

TEST_P(ManagerTest, RefusesAStepAtOrBelowTheLatest) {
  auto m = Open(Base(), dir_.path() / "r");
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(SaveModel(*m, 5).ok());
  EXPECT_SAME_ERROR_ON_ALL_RANKS(SaveModel(*m, 5), StatusCode::kFailedPrecondition,
                                 "not after the latest committed step 5");
  EXPECT_SAME_ERROR_ON_ALL_RANKS(SaveModel(*m, 2), StatusCode::kFailedPrecondition,
                                 "steps must increase");
  EXPECT_SAME_ERROR_ON_ALL_RANKS(m->ShouldSave(4).status(), StatusCode::kFailedPrecondition,
                                 "step 4");
  Model model(rank_, size_, 3);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(
      m->Save(3, StandardSave{model.AsTree(3)}, {.force = true}).status(),
      StatusCode::kFailedPrecondition, "step 3");
  EXPECT_EQ(m->AllSteps(), std::vector<int64_t>{5});
  ExpectModel(*m, 5, 5);
}

TEST_P(ManagerTest, MaxToKeepDeletesOldStepsOnDisk) {
  const fs::path root = dir_.path() / "keep";
  auto o = Base();
  o.max_to_keep = 2;
  auto m = Open(o, root);
  ASSERT_NE(m, nullptr);
  for (int64_t step = 0; step < 6; ++step) ASSERT_TRUE(SaveModel(*m, step).ok());
  EXPECT_EQ(m->AllSteps(), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(StepDirs(root), (std::set<std::string>{"4", "5"}));
  ExpectModel(*m, 4, 4);
  // Nothing temporary left behind by deletions.
  for (const auto& n : Entries(root)) EXPECT_EQ(n.find(".cairn-tmp-"), std::string::npos) << n;
}

TEST_P(ManagerTest, BestAndLatestPoliciesTogether) {
  const fs::path root = dir_.path() / "best";
  auto o = Base();
  auto loss = [](const json& m) { return m.value("loss", 1e300); };
  o.preservation_policy = std::make_shared<AnyPreservationPolicy>(
      std::vector<std::shared_ptr<const PreservationPolicy>>{
          std::make_shared<LatestN>(1),
          std::make_shared<BestN>(BestN::Options{.get_metric_fn = loss, .reverse = true, .n = 2}),
      });
  o.best_fn = loss;
  o.best_mode = "min";
  auto m = Open(o, root);
  ASSERT_NE(m, nullptr);
  const std::vector<double> losses = {5.0, 1.0, 4.0, 0.5, 3.0, 2.0};
  for (int64_t step = 0; step < 6; ++step) {
    ASSERT_TRUE(SaveModel(*m, step, nullptr, json{{"loss", losses[step]}}).ok());
  }
  // Best two by loss: steps 3 (0.5) and 1 (1.0); latest: 5.
  EXPECT_EQ(m->AllSteps(), (std::vector<int64_t>{1, 3, 5}));
  EXPECT_EQ(StepDirs(root), (std::set<std::string>{"1", "3", "5"}));
  EXPECT_EQ(m->BestStep(), 3);
  ASSERT_TRUE(m->Metrics(1).has_value());
  EXPECT_EQ(m->Metrics(1)->at("loss"), 1.0);
  // A restarted manager ranks the same way from the stored metrics.
  auto again = Open(o, root);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->BestStep(), 3);
}

TEST_P(ManagerTest, TrashInsteadOfDeletion) {
  const fs::path root = dir_.path() / "t";
  auto o = Base();
  o.max_to_keep = 1;
  o.deletion_options.todelete_subdir = "trash";
  auto m = Open(o, root);
  ASSERT_NE(m, nullptr);
  for (int64_t step : {10, 20, 30}) ASSERT_TRUE(SaveModel(*m, step).ok());
  EXPECT_EQ(m->AllSteps(), std::vector<int64_t>{30});
  EXPECT_EQ(StepDirs(root), (std::set<std::string>{"30", "trash"}));
  // The marker file tells `cairn ls` / `cairn gc` that this is a trash directory.
  EXPECT_EQ(Entries(root / "trash"), (std::set<std::string>{".cairn-trash", "10", "20"}));
  // Trashed steps are whole checkpoints (restorable by hand) and are never listed as steps.
  if (rank_ == 0) {
    EXPECT_TRUE(IsCommittedCheckpoint(root / "trash" / "10"));
  }
  ASSERT_TRUE(m->Reload().ok());
  EXPECT_EQ(m->AllSteps(), std::vector<int64_t>{30});

  // todelete_full_path, relative to the directory's parent.
  auto o2 = Base();
  o2.max_to_keep = 1;
  o2.deletion_options.todelete_full_path = "graveyard";
  auto m2 = Open(o2, dir_.path() / "t2");
  ASSERT_NE(m2, nullptr);
  for (int64_t step : {1, 2}) ASSERT_TRUE(SaveModel(*m2, step).ok());
  EXPECT_EQ(Entries(dir_.path() / "graveyard"), (std::set<std::string>{".cairn-trash", "1"}));
}

TEST_P(ManagerTest, StepNamesWithPrefixAndFixedWidth) {
  const fs::path root = dir_.path() / "names";
  auto o = Base();
  o.step_prefix = "step";
  o.step_format_fixed_length = 4;
  auto m = Open(o, root);
  ASSERT_NE(m, nullptr);
  for (int64_t step : {7, 42}) ASSERT_TRUE(SaveModel(*m, step).ok());
  EXPECT_EQ(StepDirs(root), (std::set<std::string>{"step_0007", "step_0042"}));
  EXPECT_EQ(m->StepDirectory(42), root / "step_0042");
  // Things that are not committed steps are never listed.
  if (rank_ == 0) {
    fs::create_directories(root / "step_abc");
    fs::create_directories(root / "step_0050.cairn-tmp-1-2-3" / "default");
    fs::create_directories(root / "step_0060");  // no commit marker: a killed save
    std::ofstream(root / "step_0060" / "_CHECKPOINT_METADATA") << "{}";
    fs::create_directories(root / "99");  // no prefix
  }
  ASSERT_TRUE(comm_->Barrier().ok());
  auto again = Open(o, root);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->AllSteps(), (std::vector<int64_t>{7, 42}));
  // A leftover temporary directory of step 50 does not block saving step 50.
  ASSERT_TRUE(SaveModel(*again, 50).ok());
  ExpectModel(*again, 50, 50);
}

TEST_P(ManagerTest, ReloadSeesStepsWrittenByAnotherManager) {
  const fs::path root = dir_.path() / "shared";
  auto reader = Open(Base(), root);
  auto writer = Open(Base(), root);
  ASSERT_NE(reader, nullptr);
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(SaveModel(*writer, 1).ok());
  ASSERT_TRUE(SaveModel(*writer, 2).ok());
  EXPECT_TRUE(reader->AllSteps().empty());
  auto steps = reader->AllSteps(/*read=*/true);
  ASSERT_TRUE(steps.ok());
  EXPECT_EQ(*steps, (std::vector<int64_t>{1, 2}));
  ExpectModel(*reader, std::nullopt, 2);
}

TEST_P(ManagerTest, CompositeItemsAndMetadata) {
  const fs::path root = dir_.path() / "meta";
  auto m = Open(Base(), root, json{{"experiment", "e1"}});
  ASSERT_NE(m, nullptr);
  Model model(rank_, size_, 4);
  const json config = {{"lr", 0.1}, {"layers", {3, 4}}};
  auto saved =
      m->Save(4, Composite{{"state", StandardSave{model.AsTree(4)}}, {"config", JsonSave{config}}},
              {.metrics = json{{"loss", 0.25}}, .custom_metadata = json{{"note", "first"}}});
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  ASSERT_TRUE(m->WaitUntilFinished().ok());
  EXPECT_TRUE(*saved);
  // A second manager with other root metadata does not overwrite the first.
  auto other = Open(Base(), root, json{{"experiment", "other"}});
  ASSERT_NE(other, nullptr);
  auto root_meta = other->Metadata();
  ASSERT_TRUE(root_meta.ok()) << root_meta.status().ToString();
  EXPECT_EQ(root_meta->custom_metadata, (json{{"experiment", "e1"}}));

  auto step_meta = m->Metadata(4);
  ASSERT_TRUE(step_meta.ok()) << step_meta.status().ToString();
  EXPECT_EQ(step_meta->item_handlers, (json{{"state", "cairn.StandardCheckpointHandler"},
                                            {"config", "cairn.JsonCheckpointHandler"}}));
  EXPECT_EQ(step_meta->metrics, (json{{"loss", 0.25}}));
  EXPECT_EQ(step_meta->custom_metadata, (json{{"note", "first"}}));
  EXPECT_GT(step_meta->commit_timestamp_nsecs, 0);
  EXPECT_LE(step_meta->init_timestamp_nsecs, step_meta->commit_timestamp_nsecs);

  auto items = m->ItemMetadata(4);
  ASSERT_TRUE(items.ok()) << items.status().ToString();
  ASSERT_EQ(items->size(), 2u);
  const Tree* w = items->at("state").Find({{"params"}, {"w"}});
  ASSERT_NE(w, nullptr);
  const auto& a = std::get<DistributedArray>(w->leaf());
  EXPECT_EQ(a.global_shape, (Shape{12, 3}));
  EXPECT_EQ(a.dtype, DType::kFloat64);
  EXPECT_TRUE(a.pieces.empty());
  EXPECT_EQ(std::get<json>(items->at("config").leaf()), config);

  // Restore one item only, then both.
  json config_back;
  ASSERT_TRUE(m->Restore(4, Composite{{"config", JsonRestore{&config_back}}}).ok());
  EXPECT_EQ(config_back, config);
  Model back(rank_, size_, -1);
  Tree t = back.AsTree(-1);
  config_back = nullptr;
  ASSERT_TRUE(m->Restore(std::nullopt, Composite{{"state", StandardRestore{&t}},
                                                 {"config", JsonRestore{&config_back}}})
                  .ok());
  EXPECT_EQ(back.data, Model(rank_, size_, 4).data);
  EXPECT_EQ(config_back, config);
  // A mismatched item fails the whole restore before any target is touched ("config" comes
  // first, "state" is the mismatch).
  json untouched = "sentinel";
  json wrong;
  EXPECT_SAME_ERROR_ON_ALL_RANKS(
      m->Restore(4, Composite{{"config", JsonRestore{&untouched}}, {"state", JsonRestore{&wrong}}}),
      StatusCode::kFailedPrecondition, "cairn.StandardCheckpointHandler");
  EXPECT_EQ(untouched, "sentinel");
  // Unknown item and unknown step: NotFound naming what exists.
  json x;
  EXPECT_SAME_ERROR_ON_ALL_RANKS(m->Restore(4, Composite{{"nope", JsonRestore{&x}}}),
                                 StatusCode::kNotFound, "'config', 'state'");
  EXPECT_SAME_ERROR_ON_ALL_RANKS(m->Restore(5, JsonRestore{&x}), StatusCode::kNotFound,
                                 "committed steps: 4");
}

TEST_P(ManagerTest, ArrayAndPyTreeItemsRestoreOntoAnotherDecomposition) {
  const fs::path root = dir_.path() / "arr";
  auto m = Open(Base(), root);
  ASSERT_NE(m, nullptr);
  Model model(rank_, size_, 2);
  auto saved = m->Save(
      2, Composite{{"w", ArraySave{model.array}},
                   {"tree", PyTreeSave{.item = model.AsTree(2),
                                       .backend = "reference",
                                       .array = ArrayOptions::Saving{.use_compression = true}}}});
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  ASSERT_TRUE(m->WaitUntilFinished().ok());
  if (rank_ == 0) {
    auto tree_meta = ReadItemMetadata(m->StepDirectory(2), "tree");
    ASSERT_TRUE(tree_meta.ok());
    EXPECT_EQ(tree_meta->backend, "reference");
    auto w_meta = ReadItemMetadata(m->StepDirectory(2), "w");
    ASSERT_TRUE(w_meta.ok());
    EXPECT_EQ(w_meta->backend, "hdf5");
  }
  // Every rank restores the whole array (a replicated target).
  std::vector<double> full(36, -1.0);
  DistributedArray target = DistributedArray::Replicated(DType::kFloat64, {12, 3}, full.data());
  Status st = m->Restore(2, Composite{{"w", ArrayRestore{&target}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (size_t i = 0; i < full.size(); ++i) EXPECT_EQ(full[i], 2000.0 + static_cast<double>(i));
  // PyTreeRestore with its own options: partial load of one key.
  std::vector<double> again(36, -1.0);
  Tree only_w;
  only_w["params"]["w"] = DistributedArray::Replicated(DType::kFloat64, {12, 3}, again.data());
  RestoreReport report;
  st = m->Restore(2,
                  Composite{{"tree", PyTreeRestore{.item = &only_w,
                                                   .options = RestoreOptions{.partial_load = true},
                                                   .report = &report}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(again, full);
  // A tree item restored through the array handler's arguments is refused clearly.
  json j;
  EXPECT_SAME_ERROR_ON_ALL_RANKS(m->Restore(2, Composite{{"w", JsonRestore{&j}}}),
                                 StatusCode::kFailedPrecondition, "cairn.ArrayCheckpointHandler");
}

TEST_P(ManagerTest, TimeBasedDecisionsAgreeOnEveryRank) {
  auto o = Base();
  o.save_decision_policy = std::make_shared<ContinuousCheckpointingPolicy>(
      ContinuousCheckpointingPolicy::Options{.minimum_interval_secs = 0.5});
  auto m = Open(o, dir_.path() / "time");
  ASSERT_NE(m, nullptr);
  int saves = 0;
  for (int64_t step = 0; step < 25; ++step) {
    // Ranks reach the decision at different moments: the primary's clock decides for all.
    std::this_thread::sleep_for(std::chrono::milliseconds(rank_ == 0 ? 90 : 100 + 5 * rank_));
    auto should = m->ShouldSave(step);
    ASSERT_TRUE(should.ok()) << should.status().ToString();
    auto all = AllStatuses(Status(StatusCode::kInternal, *should ? "yes" : "no"));
    for (const auto& s : all) EXPECT_EQ(s, all[0]) << "step " << step;
    if (*should) {
      Model model(rank_, size_, static_cast<double>(step));
      auto r = m->Save(step, StandardSave{model.AsTree(step)}, {.force = true});
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_TRUE(m->WaitUntilFinished().ok());
      ++saves;
    }
  }
  EXPECT_GE(saves, 2);
  EXPECT_LT(saves, 20);
}

TEST_P(ManagerTest, PreemptionOnOneRankMakesEveryRankSaveTheSameStep) {
  auto o = Base();
  o.save_interval_steps = 1000;  // only the first step and the preemption save
  auto m = Open(o, dir_.path() / "pre");
  ASSERT_NE(m, nullptr);
  std::optional<int64_t> preempted_at;
  for (int64_t step = 0; step < 20 && !preempted_at; ++step) {
    if (step == 7 && rank_ == size_ - 1) PreemptionWatcher::RequestPreemption();
    bool saved = false;
    ASSERT_TRUE(SaveModel(*m, step, &saved).ok());
    auto reached = m->ReachedPreemption(step);
    ASSERT_TRUE(reached.ok());
    if (*reached) {
      EXPECT_TRUE(saved) << "the preemption step must have been saved";
      preempted_at = step;
    }
  }
  EXPECT_EQ(preempted_at, 7);
  EXPECT_EQ(m->AllSteps(), (std::vector<int64_t>{0, 7}));
}

TEST_P(ManagerTest, AnotherPrimaryRankAndTheFinalizationCallback) {
  auto o = Base();
  o.multiprocessing_options.primary_host = size_ - 1;
  o.max_to_keep = 1;
  int finalized = 0;
  o.async_options.post_finalization_callback = [&finalized] { ++finalized; };
  const fs::path root = dir_.path() / "primary";
  auto m = Open(o, root);
  ASSERT_NE(m, nullptr);
  for (int64_t step = 0; step < 3; ++step) ASSERT_TRUE(SaveModel(*m, step).ok());
  EXPECT_EQ(finalized, 3);  // once per committed save, on every rank
  EXPECT_EQ(StepDirs(root), (std::set<std::string>{"2"}));
  ExpectModel(*m, std::nullopt, 2);
  EXPECT_TRUE(m->WaitUntilFinished().ok());
  EXPECT_TRUE(m->CheckForErrors().ok());
  EXPECT_EQ(m->directory(), root);
  auto bad = Base();
  bad.multiprocessing_options.primary_host = size_;
  EXPECT_SAME_ERROR_ON_ALL_RANKS(CheckpointManager::Create(comm_, root, bad).status(),
                                 StatusCode::kInvalidArgument, "primary_host");
}

TEST_P(ManagerTest, ReadOnlyAndMissingDirectory) {
  const fs::path root = dir_.path() / "ro";
  {
    auto m = Open(Base(), root);
    ASSERT_NE(m, nullptr);
    ASSERT_TRUE(SaveModel(*m, 1).ok());
  }
  auto o = Base();
  o.read_only = true;
  auto m = Open(o, root);
  ASSERT_NE(m, nullptr);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(SaveModel(*m, 2), StatusCode::kFailedPrecondition, "read_only");
  auto should = m->ShouldSave(2);
  ASSERT_TRUE(should.ok());
  EXPECT_FALSE(*should);
  ExpectModel(*m, 1, 1);

  auto o2 = Base();
  o2.create = false;
  EXPECT_SAME_ERROR_ON_ALL_RANKS(
      CheckpointManager::Create(comm_, dir_.path() / "absent", o2).status(), StatusCode::kNotFound,
      "absent");
}

TEST_P(ManagerTest, BadOptionsAreRefusedOnEveryRank) {
  auto o = Base();
  o.best_mode = "lowest";
  EXPECT_SAME_ERROR_ON_ALL_RANKS(CheckpointManager::Create(comm_, dir_.path() / "b", o).status(),
                                 StatusCode::kInvalidArgument, "best_mode");
  auto o2 = Base();
  o2.preservation_policy = std::make_shared<LatestN>(-1);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(CheckpointManager::Create(comm_, dir_.path() / "b", o2).status(),
                                 StatusCode::kInvalidArgument, "preservation_policy");
  auto o4 = Base();
  o4.save_options.array.enable_replica_parallel_separate_folder = true;
  EXPECT_SAME_ERROR_ON_ALL_RANKS(CheckpointManager::Create(comm_, dir_.path() / "b", o4).status(),
                                 StatusCode::kUnimplemented,
                                 "enable_replica_parallel_separate_folder");
  auto o5 = Base();
  o5.async_options.timeout_secs = 0;
  EXPECT_SAME_ERROR_ON_ALL_RANKS(CheckpointManager::Create(comm_, dir_.path() / "b", o5).status(),
                                 StatusCode::kInvalidArgument, "async_options.timeout_secs");
  auto o6 = Base();
  o6.memory_options.transfer_concurrent_bytes = 0;
  EXPECT_SAME_ERROR_ON_ALL_RANKS(CheckpointManager::Create(comm_, dir_.path() / "b", o6).status(),
                                 StatusCode::kInvalidArgument,
                                 "MemoryOptions.transfer_concurrent_bytes");
  auto o3 = Base();
  o3.deletion_options.todelete_subdir = "17";
  EXPECT_SAME_ERROR_ON_ALL_RANKS(CheckpointManager::Create(comm_, dir_.path() / "b", o3).status(),
                                 StatusCode::kInvalidArgument, "todelete_subdir");
}

INSTANTIATE_TEST_SUITE_P(SyncAndAsync, ManagerTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Async" : "Sync";
                         });

}  // namespace
}  // namespace cairn::testing
