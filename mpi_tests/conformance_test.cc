// The conformance suite: written once, run for every backend at 1, 2 and 4 ranks.
#include <fstream>
#include <set>

#include "mpi_tests/test_util.h"

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;

class ConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    comm_ = World();
    auto c = Checkpointer::Create(comm_);
    ASSERT_TRUE(c.ok());
    ckpt_ = std::make_unique<Checkpointer>(std::move(*c));
    rank_ = comm_->rank();
    size_ = comm_->size();
  }
  SaveOptions Opts(bool compression = false) const {
    SaveOptions o;
    o.backend = GetParam();
    o.array.use_compression = compression;
    return o;
  }
  std::shared_ptr<Communicator> comm_;
  std::unique_ptr<Checkpointer> ckpt_;
  SharedTempDir dir_;
  int rank_ = 0, size_ = 1;
};

// One array leaf held as a row block on every rank.
struct Held {
  std::vector<unsigned char> buf;
  DistributedArray array;
};
Held HeldBox(DType dtype, const Shape& shape, const Box& b, bool fill) {
  Held h;
  h.buf = MakeBuffer(dtype, shape, b, fill);
  h.array.dtype = dtype;
  h.array.global_shape = shape;
  h.array.pieces.push_back({b, h.buf.data()});
  return h;
}
Held RowHeld(DType dtype, const Shape& shape, int rank, int size, bool fill = true) {
  return HeldBox(dtype, shape, RowBlock(shape, rank, size), fill);
}
Held ColHeld(DType dtype, const Shape& shape, int rank, int size) {
  return HeldBox(dtype, shape, ColBlock(shape, rank, size), /*fill=*/false);
}
void ExpectPattern(const Held& h) {
  const auto& p = h.array.pieces[0];
  auto want = MakeBuffer(h.array.dtype, h.array.global_shape, p.box);
  ASSERT_EQ(0, std::memcmp(want.data(), h.buf.data(),
                           static_cast<size_t>(p.box.NumElements()) * DTypeSize(h.array.dtype)))
      << DTypeName(h.array.dtype) << " piece " << p.box.ToString();
}

TEST_P(ConformanceTest, RoundTripsEveryDtypeBitExact) {
  for (bool compression : {false, true}) {
    std::vector<Held> held;
    Tree tree;
    for (DType dt : kAllDTypes) {
      held.push_back(RowHeld(dt, {7, 5}, rank_, size_));
    }
    for (size_t i = 0; i < held.size(); ++i) {
      tree["arrays"][std::string(DTypeName(kAllDTypes[i]))] = held[i].array;
    }
    const fs::path path = dir_.path() / (compression ? "z" : "raw");
    ASSERT_TRUE(ckpt_->Save(path, tree, Opts(compression)).ok());
    std::vector<Held> back;
    Tree target;
    for (DType dt : kAllDTypes) back.push_back(RowHeld(dt, {7, 5}, rank_, size_, false));
    for (size_t i = 0; i < back.size(); ++i) {
      target["arrays"][std::string(DTypeName(kAllDTypes[i]))] = back[i].array;
    }
    auto r = ckpt_->Restore(path, target);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (const auto& h : back) ExpectPattern(h);
    auto meta = ReadItemMetadata(path);
    ASSERT_TRUE(meta.ok());
    EXPECT_EQ(meta->Find("arrays.bfloat16")->dtype, DType::kBfloat16);
    EXPECT_EQ(meta->Find("arrays.float32")->compressed, compression);
    auto cm = ReadCheckpointMetadata(path);
    ASSERT_TRUE(cm.ok()) << cm.status().ToString();
    // Steps in Orbax's format name Orbax's handler, so that Orbax restores them.
    EXPECT_EQ(cm->item_handlers["default"],
              GetParam() == std::string("ocdbt")
                  ? "orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler"
                  : "cairn.PyTreeHandler");
    EXPECT_GT(cm->commit_timestamp_nsecs, cm->init_timestamp_nsecs);
    EXPECT_TRUE(cm->performance_metrics.contains("backend_write_secs")) << cm->performance_metrics;
  }
}

TEST_P(ConformanceTest, ScalarsZeroDimEmptyStringsAndJson) {
  double zero_d = 2.5;
  std::vector<float> empty;
  Tree tree;
  tree["step"] = Scalar(int64_t{16777217});
  tree["lr"] = Scalar(0.125f);
  tree["zero_d"] = DistributedArray::Replicated(DType::kFloat64, {}, &zero_d);
  tree["empty"] = DistributedArray::Replicated(DType::kFloat32, {0, 3}, empty.data());
  tree["name"] = std::string("run-1");
  tree["config"] = Tree::Json({{"layers", 3}, {"act", "gelu"}});
  tree["layers"] = Tree::MakeList();
  tree["layers"].Append(Scalar(int32_t{7}));
  const fs::path path = dir_.path() / "misc";
  ASSERT_TRUE(ckpt_->Save(path, tree, Opts()).ok());

  double zero_back = 0;
  Tree target;
  target["step"] = Scalar(int64_t{0});
  target["lr"] = Scalar(0.0f);
  target["zero_d"] = DistributedArray::Replicated(DType::kFloat64, {}, &zero_back);
  target["empty"] = DistributedArray::Replicated(DType::kFloat32, {0, 3}, nullptr);
  target["name"] = std::string();
  target["config"] = Tree::Json(nullptr);
  target["layers"] = Tree::MakeList();
  target["layers"].Append(Scalar(int32_t{0}));
  auto r = ckpt_->Restore(path, target);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(std::get<Scalar>(target["step"].leaf()).as<int64_t>(), 16777217);
  EXPECT_EQ(std::get<Scalar>(target["lr"].leaf()).as<float>(), 0.125f);
  EXPECT_EQ(zero_back, 2.5);
  EXPECT_EQ(std::get<std::string>(target["name"].leaf()), "run-1");
  EXPECT_EQ(std::get<nlohmann::json>(target["config"].leaf())["act"], "gelu");
  EXPECT_EQ(std::get<Scalar>(target["layers"].list()[0].leaf()).as<int32_t>(), 7);
  auto meta = ReadItemMetadata(path);
  ASSERT_TRUE(meta.ok());
  EXPECT_NE(meta->Find("layers.0"), nullptr);
}

TEST_P(ConformanceTest, ReshardsRowsToColumnsAndToOneRank) {
  const Shape shape = {13, 11};
  Held saved = RowHeld(DType::kFloat32, shape, rank_, size_);
  Tree tree;
  tree["params"]["w"] = saved.array;
  const fs::path path = dir_.path() / "reshard";
  ASSERT_TRUE(ckpt_->Save(path, tree, Opts()).ok());

  for (bool verify : {true, false}) {
    Held cols = ColHeld(DType::kFloat32, shape, rank_, size_);
    Tree target;
    target["params"]["w"] = cols.array;
    auto r = ckpt_->Restore(path, target, RestoreOptions{.verify_checksums = verify});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectPattern(cols);
  }
  // Every rank restores the whole array (replicated target).
  Held whole = RowHeld(DType::kFloat32, shape, 0, 1, false);
  Tree target;
  target["params"]["w"] = whole.array;
  ASSERT_TRUE(ckpt_->Restore(path, target).ok());
  ExpectPattern(whole);
}

TEST_P(ConformanceTest, RestoresOntoADifferentNumberOfRanks) {
  // Save on all ranks, restore on a sub-communicator of the first half (and on rank 0 alone),
  // then save on rank 0 alone and restore on all ranks.
  const Shape shape = {9, 4, 3};
  Held saved = RowHeld(DType::kInt32, shape, rank_, size_);
  Tree tree;
  tree["x"] = saved.array;
  const fs::path path = dir_.path() / "n_to_m";
  ASSERT_TRUE(ckpt_->Save(path, tree, Opts()).ok());

  const int half = std::max(1, size_ / 2);
  MPI_Comm sub;
  MPI_Comm_split(MPI_COMM_WORLD, rank_ < half ? 0 : 1, rank_, &sub);
  if (rank_ < half) {
    auto comm = MpiCommunicator(sub);
    ASSERT_TRUE(comm.ok());
    auto c = Checkpointer::Create(*comm);
    Held part = RowHeld(DType::kInt32, shape, (*comm)->rank(), (*comm)->size(), false);
    Tree target;
    target["x"] = part.array;
    auto r = c->Restore(path, target);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectPattern(part);
  }
  MPI_Comm_free(&sub);

  const fs::path one = dir_.path() / "one_to_n";
  if (rank_ == 0) {
    auto c = Checkpointer::Create(SelfCommunicator());
    Held all = RowHeld(DType::kInt32, shape, 0, 1);
    Tree t;
    t["x"] = all.array;
    ASSERT_TRUE(c->Save(one, t, Opts()).ok());
  }
  MPI_Barrier(MPI_COMM_WORLD);
  Held part = RowHeld(DType::kInt32, shape, rank_, size_, false);
  Tree target;
  target["x"] = part.array;
  auto r = ckpt_->Restore(one, target);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectPattern(part);
}

TEST_P(ConformanceTest, ReplicatedAndOverlappingPiecesAreWrittenOnce) {
  const Shape shape = {10, 6};
  // Every rank holds the whole array, plus an overlapping second piece on rank 1.
  std::vector<unsigned char> whole = MakeBuffer(DType::kUint16, shape, {{0, 0}, shape});
  DistributedArray a = DistributedArray::Replicated(DType::kUint16, shape, whole.data());
  Tree tree;
  tree["r"] = a;
  // Without replica-parallel saving the lowest rank writes the replicated array.
  SaveOptions single = Opts();
  single.array.use_replica_parallel = false;
  const fs::path path = dir_.path() / "replicas";
  ASSERT_TRUE(ckpt_->Save(path, tree, single).ok());
  auto meta = ReadItemMetadata(path);
  ASSERT_TRUE(meta.ok());
  const LeafMetadata* leaf = meta->Find("r");
  ASSERT_EQ(leaf->pieces.size(), 1u);
  EXPECT_EQ(leaf->pieces[0].writer_rank, 0);
  // By default (replica-parallel) every rank writes one slice of 10 / size rows (+1).
  const fs::path shared = dir_.path() / "replicas_shared";
  ASSERT_TRUE(ckpt_->Save(shared, tree, Opts()).ok());
  meta = ReadItemMetadata(shared);
  ASSERT_TRUE(meta.ok());
  leaf = meta->Find("r");
  ASSERT_EQ(leaf->pieces.size(), static_cast<size_t>(size_));
  std::set<int> writers;
  int64_t elements = 0;
  for (const auto& p : leaf->pieces) {
    writers.insert(p.writer_rank);
    elements += p.box.NumElements();
    EXPECT_LE(p.box.shape[0], 10 / size_ + 1) << p.box.ToString();
  }
  EXPECT_EQ(writers.size(), static_cast<size_t>(size_));
  EXPECT_EQ(elements, 60);
  {
    std::vector<unsigned char> back(whole.size(), 0);
    Tree t;
    t["r"] = DistributedArray::Replicated(DType::kUint16, shape, back.data());
    auto report = ckpt_->Restore(shared, t);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(back, whole);
  }

  // Overlapping row blocks (each block extended by one row): every element written once.
  Box b = RowBlock(shape, rank_, size_);
  if (b.origin[0] + b.shape[0] < shape[0]) b.shape[0] += 1;
  std::vector<unsigned char> buf = MakeBuffer(DType::kUint16, shape, b);
  DistributedArray o{DType::kUint16, shape, {{b, buf.data()}}};
  Tree t2;
  t2["o"] = o;
  const fs::path path2 = dir_.path() / "overlap";
  ASSERT_TRUE(ckpt_->Save(path2, t2, Opts()).ok());
  auto meta2 = ReadItemMetadata(path2);
  ASSERT_TRUE(meta2.ok());
  int64_t total = 0;
  for (const auto& p : meta2->Find("o")->pieces) total += p.box.NumElements();
  EXPECT_EQ(total, 60);
  Held back = RowHeld(DType::kUint16, shape, 0, 1, false);
  Tree target;
  target["o"] = back.array;
  ASSERT_TRUE(ckpt_->Restore(path2, target).ok());
  ExpectPattern(back);
}

TEST_P(ConformanceTest, StrictPartialAndNonStrictRestore) {
  Held a = RowHeld(DType::kFloat32, {8, 2}, rank_, size_);
  Held b = RowHeld(DType::kFloat64, {8, 2}, rank_, size_);
  Tree tree;
  tree["a"] = a.array;
  tree["b"] = b.array;
  const fs::path path = dir_.path() / "partial";
  ASSERT_TRUE(ckpt_->Save(path, tree, Opts()).ok());

  Held a2 = RowHeld(DType::kFloat32, {8, 2}, rank_, size_, false);
  Tree only_a;
  only_a["a"] = a2.array;
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, only_a).status(),
                                 StatusCode::kInvalidArgument, "'b'");
  auto r = ckpt_->Restore(path, only_a, RestoreOptions{.partial_load = true});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectPattern(a2);

  Held c = RowHeld(DType::kFloat32, {8, 2}, rank_, size_, false);
  Tree with_c;
  with_c["a"] = a2.array;
  with_c["c"] = c.array;
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, with_c, {.partial_load = true}).status(),
                                 StatusCode::kNotFound, "'c'");
  auto loose = ckpt_->Restore(path, with_c, RestoreOptions{.strict = false});
  ASSERT_TRUE(loose.ok()) << loose.status().ToString();
  EXPECT_EQ(loose->skipped_missing, std::vector<std::string>{"c"});
  EXPECT_EQ(loose->skipped_unexpected, std::vector<std::string>{"b"});
}

TEST_P(ConformanceTest, CastsOnlyWhenAskedAndLossyOnlyWhenAllowed) {
  Held i32 = RowHeld(DType::kInt32, {6}, rank_, size_);
  Tree tree;
  tree["n"] = i32.array;
  tree["count"] = Scalar(int32_t{16777217});
  const fs::path path = dir_.path() / "cast";
  ASSERT_TRUE(ckpt_->Save(path, tree, Opts()).ok());

  std::vector<int64_t> wide(6);
  Tree t64;
  t64["n"] = DistributedArray::Replicated(DType::kInt64, {6}, wide.data());
  t64["count"] = Scalar(int64_t{0});
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, t64).status(), StatusCode::kInvalidArgument,
                                 "allow_cast");
  ASSERT_TRUE(ckpt_->Restore(path, t64, {.allow_cast = true}).ok());
  auto want = MakeBuffer(DType::kInt32, {6}, {{0}, {6}});
  for (int i = 0; i < 6; ++i) {
    int32_t v;
    std::memcpy(&v, want.data() + 4 * i, 4);
    EXPECT_EQ(wide[i], v);
  }
  EXPECT_EQ(std::get<Scalar>(t64["count"].leaf()).as<int64_t>(), 16777217);

  std::vector<float> narrow(6);
  Tree tf;
  tf["n"] = DistributedArray::Replicated(DType::kFloat32, {6}, narrow.data());
  tf["count"] = Scalar(0.0f);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, tf, {.allow_cast = true}).status(),
                                 StatusCode::kInvalidArgument, "allow_lossy_cast");
  ASSERT_TRUE(ckpt_->Restore(path, tf, {.allow_lossy_cast = true}).ok());
  EXPECT_EQ(std::get<Scalar>(tf["count"].leaf()).as<float>(), 16777216.0f);

  // Save-time cast through StorageOptions.dtype, and a per-leaf override.
  std::vector<double> d(4, 1.0 / 3.0);
  Tree t;
  t["keep"] = DistributedArray::Replicated(DType::kFloat64, {4}, d.data());
  t["small"] = DistributedArray::Replicated(DType::kFloat64, {4}, d.data());
  SaveOptions o = Opts();
  o.array.storage_options.dtype = DType::kFloat32;
  o.array.scoped_storage_options_creator =
      [](const KeyPath& k, const DistributedArray&) -> std::optional<StorageOptions> {
    if (KeyPathString(k) == "small") return StorageOptions{.dtype = DType::kBfloat16};
    return std::nullopt;
  };
  ASSERT_TRUE(ckpt_->Save(dir_.path() / "stored_cast", t, o).ok());
  auto meta = ReadItemMetadata(dir_.path() / "stored_cast");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->Find("keep")->dtype, DType::kFloat32);
  EXPECT_EQ(meta->Find("small")->dtype, DType::kBfloat16);
  EXPECT_EQ(meta->Find("small")->source_dtype, DType::kFloat64);
  std::vector<float> f(4);
  Tree tk;
  tk["keep"] = DistributedArray::Replicated(DType::kFloat32, {4}, f.data());
  ASSERT_TRUE(ckpt_->Restore(dir_.path() / "stored_cast", tk, {.partial_load = true}).ok());
  EXPECT_EQ(f[3], static_cast<float>(1.0 / 3.0));
}

TEST_P(ConformanceTest, PaddingTruncationAndMissingData) {
  Held a = RowHeld(DType::kInt16, {6, 4}, rank_, size_);
  Tree tree;
  tree["a"] = a.array;
  const fs::path path = dir_.path() / "pad";
  ASSERT_TRUE(ckpt_->Save(path, tree, Opts()).ok());
  std::vector<int16_t> big(8 * 3, -1);
  Tree t;
  t["a"] = DistributedArray::Replicated(DType::kInt16, {8, 3}, big.data());
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, t).status(), StatusCode::kInvalidArgument,
                                 "enable_padding_and_truncation");
  RestoreOptions ro;
  ro.array.enable_padding_and_truncation = true;
  ASSERT_TRUE(ckpt_->Restore(path, t, ro).ok());
  auto want = MakeBuffer(DType::kInt16, {6, 4}, {{0, 0}, {6, 4}});
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 3; ++j) {
      int16_t w = 0;
      if (i < 6) std::memcpy(&w, want.data() + 2 * (i * 4 + j), 2);
      EXPECT_EQ(big[i * 3 + j], w) << i << "," << j;
    }
  }

  // Only rank 0's rows (the first block) are saved: the rest is missing.
  Box first = RowBlock({6, 4}, 0, size_);
  std::vector<unsigned char> buf = MakeBuffer(DType::kInt16, {6, 4}, first);
  DistributedArray sparse{DType::kInt16, {6, 4}, {}};
  if (rank_ == 0) sparse.pieces.push_back({first, buf.data()});
  Tree ts;
  ts["s"] = sparse;
  const fs::path path2 = dir_.path() / "sparse";
  ASSERT_TRUE(ckpt_->Save(path2, ts, Opts()).ok());
  std::vector<int16_t> all(24, -1);
  Tree tt;
  tt["s"] = DistributedArray::Replicated(DType::kInt16, {6, 4}, all.data());
  if (size_ > 1) {
    EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path2, tt).status(), StatusCode::kDataLoss,
                                   "no data for region");
    RestoreOptions zero;
    zero.array.raise_array_data_missing_error = false;
    ASSERT_TRUE(ckpt_->Restore(path2, tt, zero).ok());
    EXPECT_EQ(all[23], 0);
  } else {
    ASSERT_TRUE(ckpt_->Restore(path2, tt).ok());
  }
  int16_t first_val;
  std::memcpy(&first_val, buf.data(), 2);
  EXPECT_EQ(all[0], first_val);
}

// Uneven decompositions (blocks of n / k and n / k + 1 dealt out cyclically, 2-D blocks, gaps
// nobody holds) round-trip bit-exact onto other decompositions. The ocdbt backend keeps chunks as
// large as the largest piece (chunks that straddle pieces of several ranks are assembled by one
// of them), not the GCD of the pieces' bounds, which is one element for the line below.
TEST_P(ConformanceTest, UnevenDecompositionsRoundTripWithPieceSizedChunks) {
  const bool ocdbt = GetParam() == std::string("ocdbt");
  // 100003 % k and 97 % k are neither 0 nor k - 1 for the block counts used here.
  const Shape line = {100003}, grid = {97, 61}, gappy = {40 * static_cast<int64_t>(size_)};
  const int py = size_ >= 4 ? 2 : 1, px = size_ / py;  // 2-D process grid (4 ranks: 2 x 2)
  // Rank r holds blocks r, r + size and r + 2 size of the line cut into 3 x size blocks; of the
  // grid, row blocks (r / px) + k py (k < 3) of 3 py, times column block r % px of px.
  const auto line_blocks = [&](int r) {
    std::vector<Box> out;
    for (int k = 0; k < 3; ++k) out.push_back(RowBlock(line, k * size_ + r, 3 * size_));
    return out;
  };
  const auto grid_blocks = [&](int r) {
    std::vector<Box> out;
    const Box cols = RowBlock({grid[1]}, r % px, px);
    for (int k = 0; k < 3; ++k) {
      const Box rows = RowBlock({grid[0]}, k * py + r / px, 3 * py);
      out.push_back(Box{{rows.origin[0], cols.origin[0]}, {rows.shape[0], cols.shape[0]}});
    }
    return out;
  };
  const auto gap_box = [&](int r) { return Box{{40 * r + 3}, {34}}; };
  const auto held = [&](DType dt, const Shape& shape, const std::vector<Box>& boxes,
                        std::vector<std::vector<unsigned char>>& bufs) {
    DistributedArray a{dt, shape, {}};
    for (const Box& b : boxes) {
      bufs.push_back(MakeBuffer(dt, shape, b));
      a.pieces.push_back({b, bufs.back().data()});
    }
    return a;
  };
  for (bool compression : {false, true}) {
    SCOPED_TRACE(compression ? "zstd" : "raw");
    std::vector<std::vector<unsigned char>> line_bufs, grid_bufs;
    line_bufs.reserve(3);
    grid_bufs.reserve(3);
    Held h = HeldBox(DType::kUint8, gappy, gap_box(rank_), true);
    Tree tree;
    tree["line"] = held(DType::kFloat32, line, line_blocks(rank_), line_bufs);
    tree["grid"] = held(DType::kInt16, grid, grid_blocks(rank_), grid_bufs);
    tree["gaps"] = h.array;
    const fs::path path = dir_.path() / (compression ? "uneven_z" : "uneven");
    Status saved = ckpt_->Save(path, tree, Opts(compression));
    ASSERT_TRUE(saved.ok()) << saved.ToString();
    if (ocdbt) {
      auto meta = ReadItemMetadata(path);
      ASSERT_TRUE(meta.ok()) << meta.status().ToString();
      const auto chunk = [&](const char* key) {
        const LeafMetadata* leaf = meta->Find(key);
        return leaf && leaf->chunk_shape ? *leaf->chunk_shape : Shape{};
      };
      EXPECT_EQ(chunk("line"), line_blocks(0)[0].shape);
      EXPECT_EQ(chunk("grid"), grid_blocks(0)[0].shape);
      EXPECT_EQ(chunk("gaps"), Shape{34});
    }
    // The line, restored whole on every rank and in blocks of the reversed rank order.
    std::vector<unsigned char> whole(static_cast<size_t>(line[0]) * 4, 0);
    Held rev = RowHeld(DType::kFloat32, line, size_ - 1 - rank_, size_, false);
    // The grid in row blocks, the gaps each at the next rank.
    Held rows = RowHeld(DType::kInt16, grid, rank_, size_, false);
    Held next = HeldBox(DType::kUint8, gappy, gap_box((rank_ + 1) % size_), false);
    Tree target;
    target["line"] = DistributedArray::Replicated(DType::kFloat32, line, whole.data());
    target["grid"] = rows.array;
    target["gaps"] = next.array;
    auto r = ckpt_->Restore(path, target);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const std::vector<unsigned char> want = MakeBuffer(DType::kFloat32, line, {{0}, line});
    EXPECT_EQ(0, std::memcmp(whole.data(), want.data(), whole.size()));
    ExpectPattern(rows);
    ExpectPattern(next);
    Tree target2;
    target2["line"] = rev.array;
    ASSERT_TRUE(ckpt_->Restore(path, target2, RestoreOptions{.partial_load = true}).ok());
    ExpectPattern(rev);
    // The gaps read as the fill value (0) when missing data is allowed.
    std::vector<uint8_t> all(static_cast<size_t>(gappy[0]), 0xEE);
    Tree target3;
    target3["gaps"] = DistributedArray::Replicated(DType::kUint8, gappy, all.data());
    RestoreOptions lenient;
    lenient.partial_load = true;
    lenient.array.raise_array_data_missing_error = false;
    ASSERT_TRUE(ckpt_->Restore(path, target3, lenient).ok());
    for (int64_t i = 0; i < gappy[0]; ++i) {
      if (i % 40 < 3 || i % 40 >= 37) {
        EXPECT_EQ(all[i], 0) << i;
      } else {
        unsigned char want;
        FillElement(DType::kUint8, i, &want);
        EXPECT_EQ(all[i], want) << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ConformanceTest,
                         ::testing::Values("reference", "hdf5", "ocdbt"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cairn::testing
