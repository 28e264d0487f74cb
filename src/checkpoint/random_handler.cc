// RandomEngineHandler and RandomKeyHandler: random generator states in one small JSON file,
// `<item>/random_state.json`, written by the primary:
//
//   {"engine": "<C++ type>", "per_rank": true, "num_ranks": 4, "states": ["<text>", ...]}
//   {"impl": "threefry2x32", "per_rank": false, "num_ranks": 4, "states": [[1, 2]]}
//
// `states` holds one entry per rank (per_rank) or the primary's alone. Both handlers share the
// protocol: one AllGather carries every rank's arguments (so that ranks disagreeing on per_rank
// or on the generator get an error instead of a hang in mismatched collectives), the primary
// writes; on restore the primary reads and broadcasts the text, and every rank checks it the same
// way before touching its target.
#include <string>
#include <vector>

#include "base/fs.h"
#include "cairn/args.h"
#include "checkpoint/builtin_handlers.h"
#include "checkpoint/handler_util.h"

namespace cairn::checkpoint {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kStateFile[] = "random_state.json";

// What differs between the two handlers: the name of the generator field and how a state is
// held in JSON.
struct Flavour {
  const char* handler;     // handler name, for messages
  const char* type_field;  // "engine" or "impl"
};
constexpr Flavour kEngine{kRandomEngineHandlerName, "engine"};
constexpr Flavour kKey{kRandomKeyHandlerName, "impl"};

// One rank's save arguments, as exchanged between ranks.
struct SaveRecord {
  std::string type;  // engine type or key impl
  bool per_rank = false;
  json state;  // string (engine) or array of uint32 (key)
};

// Collective. Gathers every rank's arguments, checks that the ranks agree on the generator and
// on per_rank, and (on the primary) writes the file. `local` carries an argument error of this
// rank (then `mine` is ignored).
Status SaveStates(const HandlerContext& ctx, const fs::path& directory, const Flavour& flavour,
                  const Status& local, const SaveRecord& mine) {
  Communicator& comm = *ctx.comm;
  const bool is_primary = comm.rank() == ctx.primary_host;
  Status st = local;
  std::string record_text;
  if (st.ok()) {
    json record = {{"type", mine.type}, {"per_rank", mine.per_rank}};
    // The primary's state is always needed; the others' only when each rank saves its own.
    if (mine.per_rank || is_primary) record["state"] = mine.state;
    try {
      record_text = record.dump();
    } catch (const json::exception& e) {  // a user's string that is not UTF-8
      st = InvalidArgumentError(std::string(flavour.handler) + ": item '" +
                                directory.filename().string() + "' cannot be stored: " + e.what());
    }
  }
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, st));
  auto gathered = comm.AllGather(record_text);
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, gathered.status()));

  // Identical input on every rank, so every rank reaches the same verdict.
  std::vector<json> records;
  for (const std::string& text : *gathered) records.push_back(json::parse(text));
  const json& primary = records[ctx.primary_host];
  for (size_t r = 0; r < records.size() && st.ok(); ++r) {
    if (records[r]["type"] != primary["type"]) {
      st = InvalidArgumentError(std::string(flavour.handler) + ": rank " + std::to_string(r) +
                                " saves " + flavour.type_field + " '" +
                                records[r]["type"].get<std::string>() + "' but the primary (rank " +
                                std::to_string(ctx.primary_host) + ") saves '" +
                                primary["type"].get<std::string>() + "'");
    } else if (records[r]["per_rank"] != primary["per_rank"]) {
      st = InvalidArgumentError(std::string(flavour.handler) + ": rank " + std::to_string(r) +
                                " passes per_rank=" + records[r]["per_rank"].dump() +
                                " but the primary (rank " + std::to_string(ctx.primary_host) +
                                ") passes per_rank=" + primary["per_rank"].dump());
    }
  }
  if (st.ok() && is_primary) {
    json doc = {{flavour.type_field, primary["type"]},
                {"per_rank", primary["per_rank"]},
                {"num_ranks", comm.size()},
                {"states", json::array()}};
    if (mine.per_rank) {
      for (const json& r : records) doc["states"].push_back(r["state"]);
    } else {
      doc["states"].push_back(primary["state"]);
    }
    st = base::WriteFileDurably(directory / kStateFile, doc.dump(1), ctx.path_permission_mode);
  }
  return AgreeOnStatus(comm, st);
}

// A parsed state file.
struct StoredStates {
  std::string type;
  bool per_rank = false;
  int64_t num_ranks = 0;
  json states;  // array
};

// Local. Parses and checks the file's structure (DataLoss naming the file); `is_valid_state`
// checks one entry of `states`.
Result<StoredStates> ParseStates(const fs::path& path, std::string_view text,
                                 const Flavour& flavour, bool (*is_valid_state)(const json&)) {
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& why) {
    return DataLossError("'" + path.string() + "' is not a valid random state file: " + why);
  };
  if (doc.is_discarded()) return bad("not JSON");
  if (!doc.is_object()) return bad("not a JSON object");
  StoredStates out;
  auto type = doc.find(flavour.type_field);
  if (type == doc.end() || !type->is_string()) {
    return bad(std::string("no string field '") + flavour.type_field + "'");
  }
  out.type = type->get<std::string>();
  auto per_rank = doc.find("per_rank");
  if (per_rank == doc.end() || !per_rank->is_boolean()) return bad("no boolean field 'per_rank'");
  out.per_rank = per_rank->get<bool>();
  auto num_ranks = doc.find("num_ranks");
  if (num_ranks == doc.end() || !num_ranks->is_number_integer() || num_ranks->get<int64_t>() < 1) {
    return bad("no positive integer field 'num_ranks'");
  }
  out.num_ranks = num_ranks->get<int64_t>();
  auto states = doc.find("states");
  if (states == doc.end() || !states->is_array()) return bad("no array field 'states'");
  const size_t want = out.per_rank ? static_cast<size_t>(out.num_ranks) : 1;
  if (states->size() != want) {
    return bad("'states' has " + std::to_string(states->size()) + " entries, expected " +
               std::to_string(want));
  }
  for (size_t i = 0; i < states->size(); ++i) {
    if (!is_valid_state((*states)[i])) return bad("entry " + std::to_string(i) + " of 'states'");
  }
  out.states = *states;
  return out;
}

// Collective. Reads the file on the primary, shares it, parses it on every rank and checks that
// it can be restored on this communicator. Returns the state entry meant for this rank.
Result<json> ReadMyState(const HandlerContext& ctx, const fs::path& directory,
                         const Flavour& flavour, bool (*is_valid_state)(const json&),
                         StoredStates* stored) {
  Communicator& comm = *ctx.comm;
  const fs::path path = directory / kStateFile;
  Status st;
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadOnPrimaryAndShare(ctx, path));
  auto parsed = ParseStates(path, text, flavour, is_valid_state);
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, parsed.status()));
  *stored = std::move(parsed).value();
  if (stored->per_rank && stored->num_ranks != comm.size()) {
    return AgreeOnStatus(
        comm, FailedPreconditionError(
                  std::string(flavour.handler) + ": '" + directory.string() +
                  "' holds per-rank states saved on " + std::to_string(stored->num_ranks) +
                  " ranks, but " + std::to_string(comm.size()) +
                  " ranks are restoring (per-rank states need the same number of ranks)"));
  }
  return stored->per_rank ? stored->states[comm.rank()] : stored->states[0];
}

bool IsEngineState(const json& j) { return j.is_string(); }
bool IsKeyState(const json& j) {
  if (!j.is_array()) return false;
  for (const json& w : j) {
    if (!w.is_number_unsigned() || w.get<uint64_t>() > UINT32_MAX) return false;
  }
  return true;
}

Result<Tree> DescribeStates(const fs::path& directory, const Flavour& flavour,
                            bool (*is_valid_state)(const json&)) {
  const fs::path path = directory / kStateFile;
  CAIRN_ASSIGN_OR_RETURN(std::string text, base::ReadFile(path));
  CAIRN_ASSIGN_OR_RETURN(StoredStates s, ParseStates(path, text, flavour, is_valid_state));
  Tree t;
  t[flavour.type_field] = s.type;
  t["per_rank"] = Scalar(s.per_rank);
  t["num_ranks"] = Scalar(s.num_ranks);
  return t;
}

class RandomEngineHandlerImpl : public CheckpointHandler {
 public:
  std::string TypeName() const override { return kRandomEngineHandlerName; }

  Status Save(const HandlerContext& ctx, const fs::path& directory,
              const CheckpointArgs& args) override {
    const auto* a = args.As<RandomEngineSave>();
    Status st;
    SaveRecord mine;
    if (a == nullptr) {
      st = WrongArgs(TypeName(), args);
    } else if (a->engine.empty()) {
      st = InvalidArgumentError("RandomEngineSave: empty engine type name");
    } else {
      mine = {a->engine, a->per_rank, a->state};
    }
    return SaveStates(ctx, directory, kEngine, st, mine);
  }

  Status Restore(const HandlerContext& ctx, const fs::path& directory,
                 const CheckpointArgs& args) override {
    const auto* a = args.As<RandomEngineRestore>();
    Status st;
    if (a == nullptr) {
      st = WrongArgs(TypeName(), args);
    } else if (!a->assign) {
      st = InvalidArgumentError("RandomEngineRestore: no assign function (use Into(&engine))");
    }
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*ctx.comm, st));
    StoredStates stored;
    CAIRN_ASSIGN_OR_RETURN(json state,
                           ReadMyState(ctx, directory, kEngine, IsEngineState, &stored));
    if (stored.type != a->engine) {
      st = FailedPreconditionError("'" + (directory / kStateFile).string() + "' holds a state of " +
                                   stored.type + ", which cannot be restored into a " + a->engine);
    }
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*ctx.comm, st));
    // Every rank checks its state first; engines are assigned only once all states parsed, so a
    // failure leaves every rank's engine untouched.
    if (!a->assign(state.get<std::string>(), /*commit=*/false)) {
      st = DataLossError("'" + (directory / kStateFile).string() + "': the state " +
                         (stored.per_rank ? "of rank " + std::to_string(ctx.comm->rank())
                                          : std::string("saved by the primary")) +
                         " is not a valid state of " + stored.type);
    }
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*ctx.comm, st));
    a->assign(state.get<std::string>(), /*commit=*/true);
    return OkStatus();
  }

  Result<Tree> Metadata(const fs::path& directory) const override {
    return DescribeStates(directory, kEngine, IsEngineState);
  }
};

class RandomKeyHandlerImpl : public CheckpointHandler {
 public:
  std::string TypeName() const override { return kRandomKeyHandlerName; }

  Status Save(const HandlerContext& ctx, const fs::path& directory,
              const CheckpointArgs& args) override {
    const auto* a = args.As<RandomKeySave>();
    Status st;
    SaveRecord mine;
    if (a == nullptr) {
      st = WrongArgs(TypeName(), args);
    } else if (a->impl.empty()) {
      st = InvalidArgumentError("RandomKeySave: empty impl name");
    } else {
      mine = {a->impl, a->per_rank, json(a->key_data)};
    }
    return SaveStates(ctx, directory, kKey, st, mine);
  }

  Status Restore(const HandlerContext& ctx, const fs::path& directory,
                 const CheckpointArgs& args) override {
    const auto* a = args.As<RandomKeyRestore>();
    Status st;
    if (a == nullptr) {
      st = WrongArgs(TypeName(), args);
    } else if (a->key_data == nullptr) {
      st = InvalidArgumentError("RandomKeyRestore: null key_data target");
    }
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*ctx.comm, st));
    StoredStates stored;
    CAIRN_ASSIGN_OR_RETURN(json key, ReadMyState(ctx, directory, kKey, IsKeyState, &stored));
    // Every check is behind us and agreed: nothing below can fail.
    *a->key_data = key.get<std::vector<uint32_t>>();
    if (a->impl != nullptr) *a->impl = stored.type;
    return OkStatus();
  }

  Result<Tree> Metadata(const fs::path& directory) const override {
    return DescribeStates(directory, kKey, IsKeyState);
  }
};

}  // namespace

std::shared_ptr<CheckpointHandler> RandomEngineHandler() {
  static auto h = std::make_shared<RandomEngineHandlerImpl>();
  return h;
}

std::shared_ptr<CheckpointHandler> RandomKeyHandler() {
  static auto h = std::make_shared<RandomKeyHandlerImpl>();
  return h;
}

}  // namespace cairn::checkpoint
