// Checkpoint handlers at 1, 2 and 4 ranks: Json, Composite steps, user-defined handlers,
// per-checkpointer registries, item-bound handlers and the errors of the handler machinery
// (unregistered types, restore arguments of another handler). Generator and proto handlers are
// in generator_handlers_test.cc.
#include "mpi_tests/handlers_test_util.h"

namespace cairn::testing {
namespace {

// --- A user-defined handler: one int64 counter in `<item>/counter.txt`. ---------------------

struct MyCounterSave {
  int64_t value = 0;
};
struct MyCounterRestore {
  int64_t* value = nullptr;
};

class MyCounterHandler : public CheckpointHandler {
 public:
  explicit MyCounterHandler(std::string name = "test.MyCounterHandler") : name_(std::move(name)) {}
  std::string TypeName() const override { return name_; }

  Status Save(const HandlerContext& ctx, const fs::path& directory,
              const CheckpointArgs& args) override {
    const auto* a = args.As<MyCounterSave>();
    Status st = a ? OkStatus() : InvalidArgumentError("not a MyCounterSave");
    if (st.ok() && ctx.comm->rank() == ctx.primary_host) {
      std::ofstream out(directory / "counter.txt");
      out << a->value;
      if (!out.flush()) st = InternalError("cannot write counter");
    }
    return AgreeOnStatus(*ctx.comm, st);
  }
  Status Restore(const HandlerContext& ctx, const fs::path& directory,
                 const CheckpointArgs& args) override {
    const auto* a = args.As<MyCounterRestore>();
    Status st = (a && a->value) ? OkStatus() : InvalidArgumentError("not a MyCounterRestore");
    std::string text;
    if (st.ok() && ctx.comm->rank() == ctx.primary_host) {
      std::ifstream in(directory / "counter.txt");
      if (!std::getline(in, text)) st = DataLossError("cannot read counter");
    }
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*ctx.comm, st));
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*ctx.comm, ctx.comm->Broadcast(text, ctx.primary_host)));
    *a->value = std::stoll(text);
    return OkStatus();
  }
  Result<Tree> Metadata(const fs::path& directory) const override {
    std::ifstream in(directory / "counter.txt");
    int64_t v = 0;
    if (!(in >> v)) return DataLossError("cannot read counter");
    Tree t;
    t["value"] = Scalar(v);
    return t;
  }

 private:
  std::string name_;
};

// The one instance registered globally (registering the same instance again is a no-op, so the
// suite can run with --gtest_repeat).
std::shared_ptr<MyCounterHandler> GlobalCounterHandler() {
  static auto h = std::make_shared<MyCounterHandler>();
  return h;
}

// Types known only to a per-checkpointer registry.
struct LocalCounterSave {
  int64_t value = 0;
};
struct LocalCounterRestore {
  int64_t* value = nullptr;
};
// Adapts the counter handler to the local types.
class LocalCounterHandler : public MyCounterHandler {
 public:
  LocalCounterHandler() : MyCounterHandler("test.LocalCounterHandler") {}
  Status Save(const HandlerContext& ctx, const fs::path& d, const CheckpointArgs& args) override {
    const auto* a = args.As<LocalCounterSave>();
    if (a == nullptr) {
      return AgreeOnStatus(*ctx.comm,
                           InvalidArgumentError(TypeName() + " cannot take " + args.TypeName()));
    }
    return MyCounterHandler::Save(ctx, d, MyCounterSave{a->value});
  }
  Status Restore(const HandlerContext& ctx, const fs::path& d,
                 const CheckpointArgs& args) override {
    const auto* a = args.As<LocalCounterRestore>();
    return MyCounterHandler::Restore(ctx, d, MyCounterRestore{a ? a->value : nullptr});
  }
};

// A type no registry knows.
struct UnregisteredThing {
  int x = 0;
};
// --- Json. -----------------------------------------------------------------------------------

TEST_F(HandlersTest, JsonRoundTripsAndCorruptionIsDataLossOnEveryRank) {
  const json value = {{"lr", 0.25}, {"layers", {1, 2, 3}}, {"name", "run-7"}, {"ok", true}};
  const fs::path path = dir_.path() / "json";
  // Only the primary's value is saved: the others pass something else.
  ASSERT_TRUE(ckpt_->Save(path, JsonSave{rank_ == 0 ? value : json("other")}).ok());
  json back = "untouched";
  Status st = ckpt_->Restore(path, JsonRestore{&back});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(back, value);

  EXPECT_EQ(LeafAt<json>(AllMeta(*ckpt_, path), "default", {}), value);

  RewriteFile(path / "default" / "metadata", "{\"lr\": 0.25, \"layers\": [1, 2");
  json again = "untouched";
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, JsonRestore{&again}), StatusCode::kDataLoss,
                                 (path / "default" / "metadata").string());
  EXPECT_EQ(again, json("untouched"));
}

// --- Composite. ------------------------------------------------------------------------------

TEST_F(HandlersTest, CompositeSavesRestoresPartiallyAndDescribesEveryItem) {
  const Shape shape = {9, 4};
  std::vector<unsigned char> buf =
      MakeBuffer(DType::kFloat32, shape, RowBlock(shape, rank_, size_));
  Tree state;
  state["params"]["w"] =
      DistributedArray{DType::kFloat32, shape, {{RowBlock(shape, rank_, size_), buf.data()}}};
  state["step"] = Scalar(int64_t{12});
  const json meta_value = {{"epoch", 3}, {"tag", "c"}};
  std::mt19937_64 engine = RankEngine(rank_);
  const std::vector<uint32_t> key = {1, 2};
  const fs::path path = dir_.path() / "composite";
  Status st = ckpt_->Save(path, Composite{{"state", StandardSave{state}},
                                          {"meta", JsonSave{meta_value}},
                                          {"rng", RandomEngineSave::Of(engine)},
                                          {"key", RandomKeySave{.key_data = key}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  const std::vector<uint64_t> want_draws = Draws(engine);

  // Everything back, into a different decomposition of the array.
  const Box col = ColBlock(shape, rank_, size_);
  std::vector<unsigned char> out(buf.size() + 64, 0);
  Tree target;
  target["params"]["w"] = DistributedArray{DType::kFloat32, shape, {{col, out.data()}}};
  target["step"] = Scalar(int64_t{0});
  json meta_back;
  std::mt19937_64 engine_back;
  std::vector<uint32_t> key_back;
  st = ckpt_->Restore(path, Composite{{"state", StandardRestore{&target}},
                                      {"meta", JsonRestore{&meta_back}},
                                      {"rng", RandomEngineRestore::Into(&engine_back)},
                                      {"key", RandomKeyRestore{&key_back}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto want = MakeBuffer(DType::kFloat32, shape, col);
  EXPECT_EQ(0, std::memcmp(want.data(), out.data(), static_cast<size_t>(col.NumElements()) * 4));
  EXPECT_EQ(std::get<Scalar>(FindPath(target, {"step"})->leaf()).as<int64_t>(), 12);
  EXPECT_EQ(meta_back, meta_value);
  EXPECT_EQ(Draws(engine_back), want_draws);
  EXPECT_EQ(key_back, key);

  // Just one item.
  json only;
  st = ckpt_->Restore(path, Composite{{"meta", JsonRestore{&only}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(only, meta_value);
  // An item the checkpoint does not have: NotFound listing those it has.
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, Composite{{"nope", JsonRestore{&only}}}),
                                 StatusCode::kNotFound, "'key', 'meta', 'rng', 'state'");

  const MetaMap meta = AllMeta(*ckpt_, path);
  std::vector<std::string> names;
  for (const auto& [name, tree] : meta) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"key", "meta", "rng", "state"}));
  if (auto arr = LeafAt<DistributedArray>(meta, "state", {"params", "w"})) {
    EXPECT_EQ(arr->dtype, DType::kFloat32);
    EXPECT_EQ(arr->global_shape, shape);
    EXPECT_TRUE(arr->pieces.empty());
  }
  EXPECT_TRUE(LeafAt<Scalar>(meta, "state", {"step"}).has_value());
  EXPECT_EQ(LeafAt<json>(meta, "meta", {}), meta_value);
  EXPECT_EQ(LeafAt<std::string>(meta, "key", {"impl"}), "threefry2x32");
  EXPECT_EQ(ScalarAt<bool>(meta, "rng", {"per_rank"}), true);
  EXPECT_EQ(ScalarAt<int64_t>(meta, "rng", {"num_ranks"}), size_);
}

// --- User-defined handlers and registries. -----------------------------------------------------

TEST_F(HandlersTest, UserDefinedHandlerSavesInsideACompositeAndIsFoundByItsArgs) {
  auto handler = GlobalCounterHandler();
  ASSERT_TRUE(RegisterWithHandler<MyCounterSave>(handler, {.for_save = true}).ok());
  ASSERT_TRUE(RegisterWithHandler<MyCounterRestore>(handler, {.for_restore = true}).ok());
  Status both_false = RegisterWithHandler<UnregisteredThing>(handler, {});
  EXPECT_EQ(both_false.code(), StatusCode::kInvalidArgument) << both_false.ToString();
  // ...and that failed registration registered nothing.
  EXPECT_EQ(GetRegisteredHandler(UnregisteredThing{}).status().code(), StatusCode::kNotFound);

  auto found = GetRegisteredHandler(MyCounterSave{});
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->get(), handler.get());
  found = GetRegisteredHandler(MyCounterRestore{});
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->get(), handler.get());
  auto builtin = GetRegisteredHandler(JsonRestore{});
  ASSERT_TRUE(builtin.ok());
  EXPECT_EQ((*builtin)->TypeName(), "cairn.JsonCheckpointHandler");
  auto args = GetRegisteredArgs(*handler);
  ASSERT_TRUE(args.ok()) << args.status().ToString();
  EXPECT_EQ(args->first, DemangledTypeName(typeid(MyCounterSave)));
  EXPECT_EQ(args->second, DemangledTypeName(typeid(MyCounterRestore)));
  EXPECT_NE(args->first.find("MyCounterSave"), std::string::npos) << args->first;
  auto json_args = GetRegisteredArgs(**builtin);
  ASSERT_TRUE(json_args.ok());
  EXPECT_EQ(json_args->first, "cairn::JsonSave");
  EXPECT_EQ(json_args->second, "cairn::JsonRestore");

  std::vector<int32_t> data = {1, 2, 3, 4, 5, 6};
  Tree state;
  state["v"] = DistributedArray::Of(std::span(data), {6});
  const fs::path path = dir_.path() / "user";
  Status st = ckpt_->Save(path, Composite{{"state", StandardSave{state}},
                                          {"counter", MyCounterSave{41 + (rank_ == 0)}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  int64_t counter = 0;
  std::vector<int32_t> back(6, 0);
  Tree target;
  target["v"] = DistributedArray::Of(std::span(back), {6});
  st = ckpt_->Restore(path, Composite{{"state", StandardRestore{&target}},
                                      {"counter", MyCounterRestore{&counter}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(counter, 42);
  EXPECT_EQ(back, data);
  EXPECT_EQ(ScalarAt<int64_t>(AllMeta(*ckpt_, path), "counter", {"value"}), 42);
}

TEST_F(HandlersTest, UnregisteredArgumentTypeIsNotFoundAndLeavesNoDirectory) {
  const std::string type = DemangledTypeName(typeid(UnregisteredThing));
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Save(dir_.path() / "a", UnregisteredThing{}),
                                 StatusCode::kNotFound, type);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(
      ckpt_->Save(dir_.path() / "b", Composite{{"ok", JsonSave{1}}, {"bad", UnregisteredThing{}}}),
      StatusCode::kNotFound, "item 'bad'");
  EXPECT_TRUE(Entries(dir_.path()).empty());
  // Restoring with it: NotFound too, before anything is read.
  ASSERT_TRUE(ckpt_->Save(dir_.path() / "c", JsonSave{1}).ok());
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(dir_.path() / "c", UnregisteredThing{}),
                                 StatusCode::kNotFound, type);
}

TEST_F(HandlersTest, HandlerBoundToAnItemNameByCreateWithHandlers) {
  // LocalCounter's argument types are registered nowhere: only the item binding finds them.
  auto local = std::make_shared<LocalCounterHandler>();
  auto opts = CheckpointablesOptions::CreateWithHandlers({{"counter", local}});
  ASSERT_TRUE(opts.ok()) << opts.status().ToString();
  auto c = Checkpointer::Create(comm_, {.checkpointables = *opts});
  ASSERT_TRUE(c.ok());
  const fs::path path = dir_.path() / "bound";
  Status st = c->Save(path, Composite{{"counter", LocalCounterSave{11}}, {"j", JsonSave{"x"}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  int64_t n = 0;
  st = c->Restore(path, Composite{{"counter", LocalCounterRestore{&n}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(n, 11);
  // The same argument type under another item name is not bound: NotFound naming the type.
  EXPECT_SAME_ERROR_ON_ALL_RANKS(
      c->Save(dir_.path() / "unbound", Composite{{"other", LocalCounterSave{1}}}),
      StatusCode::kNotFound, DemangledTypeName(typeid(LocalCounterSave)));
  // The bound handler refuses arguments it does not take, on every rank.
  EXPECT_SAME_ERROR_ON_ALL_RANKS(
      c->Save(dir_.path() / "wrong", Composite{{"counter", JsonSave{"x"}}}),
      StatusCode::kInvalidArgument, "JsonSave");
  // Binding an item twice to different handlers is refused.
  auto again = opts->registry->RegisterForItem("counter", std::make_shared<LocalCounterHandler>());
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again.ToString();
}

TEST_F(HandlersTest, PerCheckpointerRegistryKnowsTypesTheGlobalOneDoesNot) {
  auto registry = HandlerRegistry::WithBuiltins();
  auto local = std::make_shared<LocalCounterHandler>();
  ASSERT_TRUE(
      registry->Register(typeid(LocalCounterSave), "LocalCounterSave", local, {.for_save = true})
          .ok());
  ASSERT_TRUE(registry
                  ->Register(typeid(LocalCounterRestore), "LocalCounterRestore", local,
                             {.for_restore = true})
                  .ok());
  auto c = Checkpointer::Create(comm_, {.checkpointables = {.registry = registry}});
  ASSERT_TRUE(c.ok());
  const fs::path path = dir_.path() / "local";
  Status st = c->Save(path, Composite{{"n", LocalCounterSave{7}}, {"j", JsonSave{"x"}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  int64_t n = 0;
  st = c->Restore(path, Composite{{"n", LocalCounterRestore{&n}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(n, 7);
  const MetaMap meta = AllMeta(*c, path);
  EXPECT_EQ(meta.size(), 2u);
  EXPECT_EQ(ScalarAt<int64_t>(meta, "n", {"value"}), 7);

  // The default checkpointer (global registry) knows neither the types nor the handler name.
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Save(dir_.path() / "global", LocalCounterSave{7}),
                                 StatusCode::kNotFound,
                                 DemangledTypeName(typeid(LocalCounterSave)));
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, Composite{{"n", LocalCounterRestore{&n}}}),
                                 StatusCode::kNotFound,
                                 DemangledTypeName(typeid(LocalCounterRestore)));
  // Its metadata names the unknown handler instead of failing the whole step.
  auto global_meta = ckpt_->ItemMetadata(path);
  ASSERT_TRUE(global_meta.ok()) << global_meta.status().ToString();
  const nlohmann::json& unknown = std::get<nlohmann::json>(global_meta->at("n").leaf());
  EXPECT_EQ(unknown.value("handler", ""), "test.LocalCounterHandler");
  EXPECT_EQ(unknown.value("unknown_handler", false), true);
  EXPECT_EQ(GetRegisteredHandler(LocalCounterSave{}).status().code(), StatusCode::kNotFound);
}

TEST_F(HandlersTest, RestoreArgsOfAnotherHandlerAreFailedPrecondition) {
  std::vector<double> data = {1.5, 2.5};
  Tree state;
  state["x"] = DistributedArray::Of(std::span(data), {2});
  std::mt19937_64 engine = RankEngine(rank_);
  const fs::path path = dir_.path() / "mixed";
  ASSERT_TRUE(ckpt_
                  ->Save(path, Composite{{"state", StandardSave{state}},
                                         {"rng", RandomEngineSave::Of(engine)}})
                  .ok());
  json j;
  Status st = ckpt_->Restore(path, Composite{{"state", JsonRestore{&j}}});
  EXPECT_SAME_ERROR_ON_ALL_RANKS(st, StatusCode::kFailedPrecondition,
                                 "cairn.StandardCheckpointHandler");
  EXPECT_NE(st.message().find("cairn.JsonCheckpointHandler"), std::string::npos) << st.ToString();
  std::vector<uint32_t> key;
  st = ckpt_->Restore(path, Composite{{"rng", RandomKeyRestore{&key}}});
  EXPECT_SAME_ERROR_ON_ALL_RANKS(st, StatusCode::kFailedPrecondition, "cairn.RandomEngineHandler");
  EXPECT_NE(st.message().find("cairn.RandomKeyHandler"), std::string::npos) << st.ToString();
  // Tree handlers restore each other's items.
  std::vector<double> back(2, 0);
  Tree target;
  target["x"] = DistributedArray::Of(std::span(back), {2});
  st = ckpt_->Restore(path, Composite{{"state", PyTreeRestore{&target}}});
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(back, data);
}

}  // namespace
}  // namespace cairn::testing
