// A synchronous step save: the primary creates the temporary directory, every item is written
// by its handler, the primary writes `_CHECKPOINT_METADATA` and commits. Every phase ends with an
// agreement so that all ranks return the same Status and none is left inside MPI.
#include <memory>

#include "base/fs.h"
#include "checkpoint/builtin_handlers.h"
#include "checkpoint/io_turns.h"
#include "checkpoint/impl.h"
#include "checkpoint/phase_timer.h"
#include "checkpoint/staging.h"
#include "coord/commit.h"
#include "format/metadata_json.h"

namespace cairn::checkpoint {

namespace fs = std::filesystem;
using nlohmann::json;

HandlerContext StepContext(Communicator& comm, const CheckpointerOptions& opts,
                           const fs::path& directory, const SaveOptions& options, json* perf,
                           StagingArena* arena) {
  HandlerContext c;
  c.comm = &comm;
  c.primary_host = opts.multiprocessing.primary_host.value_or(0);
  c.path_permission_mode = opts.file.path_permission_mode;
  c.save_options = &options;
  c.performance_metrics = perf;
  c.timeout_secs = opts.async_options.timeout_secs;
  c.barrier_sync_fn = &opts.async_options.barrier_sync_fn;
  c.barrier_key = opts.multiprocessing.barrier_sync_key_prefix.value_or("") + "cairn." +
                  directory.filename().string();
  c.memory_options = &opts.memory_options;
  c.staging = arena;
  return c;
}

Status CheckStepArgs(const fs::path& directory, const std::vector<StepItem>& items) {
  if (items.empty()) return InvalidArgumentError("nothing to save: no items");
  if (directory.empty()) return InvalidArgumentError("empty checkpoint directory path");
  for (const StepItem& item : items) {
    CAIRN_RETURN_IF_ERROR(ValidateItemName(item.name));
    if (item.handler == nullptr || item.args == nullptr) {
      return InternalError("item '" + item.name + "' has no handler");
    }
  }
  return OkStatus();
}

Result<fs::path> CreateStepDirectory(const HandlerContext& ctx, const fs::path& directory,
                                     const std::vector<StepItem>& items) {
  Communicator& comm = *ctx.comm;
  std::string tmp;
  Status st;
  if (comm.rank() == ctx.primary_host) {
    std::vector<std::string> names;
    for (const auto& item : items) names.push_back(item.name);
    auto created = coord::CreateTemporaryCheckpoint(directory, names, ctx.path_permission_mode);
    st = created.status();
    if (created.ok()) tmp = created->string();
  }
  CAIRN_RETURN_IF_ERROR(AgreeInContext(ctx, st, "create directory"));
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(comm, comm.Broadcast(tmp, ctx.primary_host)));
  return fs::path(tmp);
}

Status CommitStep(const HandlerContext& ctx, const fs::path& directory, const fs::path& tmp_dir,
                  const std::vector<StepItem>& items, int64_t init_ts) {
  Status st;
  if (ctx.comm->rank() == ctx.primary_host) {
    st = [&]() -> Status {
      const SaveOptions& options = *ctx.save_options;
      CheckpointMetadata cm;
      // Steps in Orbax's format (the ocdbt backend) name Orbax's handlers, so that Orbax's
      // CheckpointManager restores them without arguments; cairn reads both names.
      const auto backend = ResolveBackendName(options);
      const bool orbax = backend.ok() && *backend == "ocdbt";
      for (const StepItem& item : items) {
        const std::string name = item.handler->TypeName();
        cm.item_handlers[item.name] = orbax ? std::string(OrbaxHandlerName(name)) : name;
      }
      cm.metrics = options.metrics;
      if (ctx.performance_metrics != nullptr) cm.performance_metrics = *ctx.performance_metrics;
      cm.custom_metadata = options.custom_metadata;
      cm.init_timestamp_nsecs = init_ts;
      cm.commit_timestamp_nsecs = coord::NowNanos();
      CAIRN_RETURN_IF_ERROR(base::WriteFileDurably(tmp_dir / coord::kCheckpointMetadataFile,
                                                   format::EncodeCheckpointMetadata(cm),
                                                   ctx.path_permission_mode));
      return coord::CommitCheckpoint(tmp_dir, directory, ctx.path_permission_mode);
    }();
  }
  st = AgreeInContext(ctx, st, "commit");
  if (!st.ok() && ctx.comm->rank() == ctx.primary_host) {
    coord::AbandonTemporaryCheckpoint(tmp_dir);
  }
  return st;
}

void RecordStaging(const StagingArena& arena, json* perf) {
  if (perf == nullptr) return;
  (*perf)["staging_peak_bytes"] = arena.peak_bytes();
  (*perf)["staging_peak_counted_bytes"] = arena.peak_counted_bytes();
  if (auto limit = arena.limit()) (*perf)["staging_limit_bytes"] = *limit;
}

Status SaveStep(Communicator& comm, const CheckpointerOptions& opts, const fs::path& directory,
                const std::vector<StepItem>& items, const SaveOptions& options) {
  const int64_t init_ts = coord::NowNanos();
  json perf = json::object();
  PhaseTimer timer;
  // Packing and cast buffers, within write_concurrent_bytes.
  StagingArena arena;
  arena.SetLimit(StagingBudget(opts.memory_options, options, /*async=*/false));
  const HandlerContext ctx = StepContext(comm, opts, directory, options, &perf, &arena);

  Status st = CheckStepArgs(directory, items);
  if (st.ok()) st = ValidateMemoryOptions(opts.memory_options);
  CAIRN_RETURN_IF_ERROR(AgreeInContext(ctx, st, "validate step"));
  CAIRN_ASSIGN_OR_RETURN(const fs::path tmp_dir, CreateStepDirectory(ctx, directory, items));
  timer.Mark("create_directory_secs");

  // After the storage I/O of other checkpointers' saves started earlier in this process.
  auto turn = IoTurn::Take("save of '" + directory.string() + "'");
  st = AgreeInContext(ctx, turn->Wait(std::chrono::seconds(ctx.timeout_secs)), "storage turn");
  if (!st.ok()) {
    if (comm.rank() == ctx.primary_host) coord::AbandonTemporaryCheckpoint(tmp_dir);
    return st;
  }
  for (const StepItem& item : items) {
    st = item.handler->Save(ctx, tmp_dir / item.name, *item.args);
    // Handlers agree on their outcome; agreeing again guards against a user handler that forgot
    // to, and bounds the wait for a rank stuck inside one.
    st = AgreeInContext(ctx,
                        st.WithContext("item '" + item.name + "' (" + item.handler->TypeName() + ")"),
                        "item " + item.name);
    if (!st.ok()) {
      if (comm.rank() == ctx.primary_host) coord::AbandonTemporaryCheckpoint(tmp_dir);
      return st;
    }
  }
  turn->Release();
  timer.Mark("items_secs");
  perf["create_directory_secs"] = timer.metrics().value("create_directory_secs", 0.0);
  RecordStaging(arena, &perf);
  return CommitStep(ctx, directory, tmp_dir, items, init_ts);
}

}  // namespace cairn::checkpoint
