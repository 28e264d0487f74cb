#include "checkpoint/async_saver.h"

#include <cstdio>

#include "checkpoint/io_turns.h"
#include "checkpoint/phase_timer.h"
#include "coord/commit.h"

namespace cairn::checkpoint {

namespace fs = std::filesystem;
using nlohmann::json;

Result<std::unique_ptr<AsyncSaver>> AsyncSaver::Create(std::shared_ptr<Communicator> comm,
                                                       CheckpointerOptions options) {
  if (!comm) return InvalidArgumentError("AsyncSaver: null communicator");
  Status st = ValidateMemoryOptions(options.memory_options);
  if (st.ok() && options.async_options.timeout_secs <= 0) {
    st = InvalidArgumentError("AsyncOptions.timeout_secs = " +
                              std::to_string(options.async_options.timeout_secs) +
                              " must be positive");
  }
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*comm, st));
  auto bg = comm->Duplicate();
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*comm, bg.status()));
  (*bg)->SetTimeout(std::chrono::seconds(options.async_options.timeout_secs));
  (*bg)->SetPhase(comm->phase().empty() ? "cairn.background" : comm->phase() + ".background");
  // Every rank must pick the same mode, or their collectives would not match.
  std::vector<int64_t> concurrent = {comm->SupportsConcurrentThreads() ? 1 : 0};
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*comm, comm->AllReduceMin(concurrent)));
  const bool threaded = concurrent[0] == 1;
  static std::once_flag noticed;
  if (!threaded && comm->rank() == 0) std::call_once(noticed, [] {
    std::fprintf(stderr,
                 "cairn: MPI was initialised below MPI_THREAD_MULTIPLE; asynchronous saves are "
                 "written at the next collective call (Save, WaitUntilFinished, Restore, Close) "
                 "instead of in the background. Initialise MPI with MPI_Init_thread("
                 "MPI_THREAD_MULTIPLE) for background saves.\n");
  });
  return std::unique_ptr<AsyncSaver>(
      new AsyncSaver(std::move(comm), std::move(bg).value(), std::move(options), threaded));
}

AsyncSaver::AsyncSaver(std::shared_ptr<Communicator> comm, std::shared_ptr<Communicator> bg,
                       CheckpointerOptions options, bool threaded)
    : comm_(std::move(comm)), bg_(std::move(bg)), options_(std::move(options)),
      threaded_(threaded) {}

AsyncSaver::~AsyncSaver() {
  if (thread_.joinable()) thread_.join();
  // Deferred work that nobody ran is dropped: running it here could enter a collective that
  // other ranks never reach. Close()/WaitUntilFinished() run it.
}

void AsyncSaver::Finish(Status outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_ = false;
  if (!outcome.ok()) failure_ = std::move(outcome);
}

void AsyncSaver::Join() {
  if (thread_.joinable()) thread_.join();
  if (pending_) {
    auto work = std::move(pending_);
    pending_ = nullptr;
    work();
  }
}

bool AsyncSaver::InFlight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

bool AsyncSaver::FailureKnown() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_.has_value();
}

Status AsyncSaver::CheckForErrors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_ ? *failure_ : OkStatus();
}

Status AsyncSaver::WaitUntilFinished() {
  Join();
  return CheckForErrors();
}

Status AsyncSaver::TakeFailure() {
  Join();
  std::lock_guard<std::mutex> lock(mu_);
  Status f = failure_ ? *failure_ : OkStatus();
  failure_.reset();
  return f;
}

Status AsyncSaver::Save(const fs::path& directory, std::vector<StepItem> items,
                        const SaveOptions& options, AfterCommit after_commit) {
  // A new save waits for the previous one; a failure is reported instead of saving.
  CAIRN_RETURN_IF_ERROR(TakeFailure());
  const int64_t init_ts = coord::NowNanos();
  auto perf = std::make_shared<json>(json::object());
  auto opts = std::make_shared<SaveOptions>(options);
  const auto blocking_start = std::chrono::steady_clock::now();
  arena_.SetLimit(StagingBudget(options_.memory_options, options, /*async=*/true));
  arena_.Reset();
  HandlerContext ctx = StepContext(*comm_, options_, directory, *opts, perf.get(), &arena_);
  CAIRN_RETURN_IF_ERROR(AgreeInContext(ctx, CheckStepArgs(directory, items), "validate step"));

  // The temporary directory now, unless it is created in the background.
  std::optional<fs::path> tmp_dir;
  if (!options_.async_options.create_directories_asynchronously) {
    CAIRN_ASSIGN_OR_RETURN(tmp_dir, CreateStepDirectory(ctx, directory, items));
  }
  auto abandon = [this](const std::optional<fs::path>& tmp) {
    if (tmp && comm_->rank() == options_.multiprocessing.primary_host.value_or(0)) {
      coord::AbandonTemporaryCheckpoint(*tmp);
    }
  };

  // Stage every item (collective, calling thread).
  auto staged = std::make_shared<std::vector<std::shared_ptr<StagedSave>>>();
  for (StepItem& item : items) {
    ctx.item_label = item.name;
    auto s = item.handler->StageSave(ctx, *item.args);
    Status st = AgreeInContext(
        ctx, s.status().WithContext("item '" + item.name + "' (" + item.handler->TypeName() + ")"),
        "stage item " + item.name);
    if (!st.ok()) {
      abandon(tmp_dir);
      return st;
    }
    staged->push_back(std::move(s).value());
    item.args = nullptr;  // not read after staging
  }
  (*perf)["blocking_secs"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - blocking_start).count();

  // The rest runs in the background, over the background communicator.
  // The storage I/O's turn among the checkpointers of this process: taken now, in call order,
  // when a thread will write; the deferred write runs on this thread and takes it then.
  std::shared_ptr<IoTurn> turn;
  if (threaded_) turn = IoTurn::Take("background save of '" + directory.string() + "'");
  auto work = [this, directory, items = std::move(items), staged, opts, perf, tmp_dir, init_ts,
               after_commit = std::move(after_commit), abandon, turn]() mutable {
    PhaseTimer timer;
    HandlerContext bctx = StepContext(*bg_, options_, directory, *opts, perf.get(), &arena_);
    Status st = [&]() -> Status {
      if (!tmp_dir) {
        CAIRN_ASSIGN_OR_RETURN(tmp_dir, CreateStepDirectory(bctx, directory, items));
        timer.Mark("create_directory_secs");
      }
      if (!turn) turn = IoTurn::Take("save of '" + directory.string() + "'");
      Status waited = AgreeInContext(
          bctx, turn->Wait(std::chrono::seconds(bctx.timeout_secs)), "storage turn");
      if (!waited.ok()) {
        abandon(tmp_dir);
        return waited;
      }
      for (size_t i = 0; i < items.size(); ++i) {
        bctx.item_label = items[i].name;
        Status s = (*staged)[i]->Write(bctx, *tmp_dir / items[i].name);
        s = AgreeInContext(bctx,
                           s.WithContext("item '" + items[i].name + "' (" +
                                         items[i].handler->TypeName() + ")"),
                           "item " + items[i].name);
        if (!s.ok()) {
          abandon(tmp_dir);
          return s;
        }
      }
      staged->clear();  // staging buffers back to the arena before the commit
      turn->Release();
      timer.Mark("items_secs");
      timer.AddTo(perf.get());
      RecordStaging(arena_, perf.get());
      CAIRN_RETURN_IF_ERROR(CommitStep(bctx, directory, *tmp_dir, items, init_ts));
      if (after_commit) {
        Status s = after_commit(*bg_);
        if (!s.ok()) {
          return Status(s.code(), "'" + directory.string() +
                                      "' was committed, but what follows the commit failed: " +
                                      std::string(s.message()));
        }
      }
      if (options_.async_options.post_finalization_callback) {
        options_.async_options.post_finalization_callback();
      }
      return OkStatus();
    }();
    if (!st.ok()) {
      arena_.Abort(st);
      st = st.WithContext("background save of '" + directory.string() + "'");
    }
    staged->clear();
    if (turn) turn->Release();
    Finish(st);
  };
  // The calling thread keeps its own references: the background drops its own when done.
  const std::vector<std::shared_ptr<StagedSave>> mine = *staged;
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = true;
  }
  if (threaded_) {
    thread_ = std::thread(std::move(work));
  } else {
    pending_ = std::move(work);
  }
  // Return once the caller's memory is free (copied), or run the write now when the deferred
  // mode cannot wait for it.
  if (threaded_) {
    for (const auto& s : mine) s->AwaitCallerMemoryReleased();
  } else if (options_.memory_options.transfer_concurrent_bytes ||
             options_.memory_options.write_concurrent_bytes) {
    // Deferred mode with a budget: boxes beyond it are copied only while writing, so write now.
    Join();
  }
  return OkStatus();
}

}  // namespace cairn::checkpoint
