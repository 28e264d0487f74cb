#pragma once
// The `cairn` command-line tool: what the commands share (internal to tools/cli).
//
// Every command runs on every rank of MPI_COMM_WORLD (a plain `cairn ...` is a one-rank MPI
// singleton). Inspection commands (ls, tree, gc) do their work on rank 0; verify, diff and convert
// split the stored pieces over the ranks. Only rank 0 prints. Errors leave as CliError, thrown on
// every rank at once (after an agreement) or before any collective, so no rank is left waiting.

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "cairn/backend.h"
#include "cairn/metadata.h"
#include "cairn/status.h"

namespace cairn_cli {

namespace fs = std::filesystem;
using nlohmann::json;

/// Exit codes: 0 fine (intact, identical, done); 1 the command found something (damage,
/// differences); 2 it could not do its job (usage, missing or unreadable input).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFindings = 1;
inline constexpr int kExitError = 2;

/// A failure that ends the command: printed as one line `cairn <command>: <message>`.
struct CliError : std::runtime_error {
  explicit CliError(const std::string& message, int exit_code = kExitError)
      : std::runtime_error(message), code(exit_code) {}
  int code;
};
/// A usage error (bad options or arguments): also points at `--help`.
struct UsageError : CliError {
  explicit UsageError(const std::string& message) : CliError(message) {}
};

struct Env {
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0;
  int size = 1;
  bool json = false;      ///< --json: one JSON document on stdout
  bool progress = false;  ///< draw progress bars (rank 0, stdout is a terminal, not --json)
  std::string command;    ///< "verify", ...
};

// ---- Agreement between ranks (raw MPI: the tool never waits on a rank that failed alone) ----

/// Collective. If any rank's `local` is an error, every rank throws the lowest failing rank's
/// error (its message names that rank when there are several ranks).
void AgreeOrThrow(const Env& env, const cairn::Status& local);
/// Collective. Rank 0's string on every rank.
std::string BroadcastString(const Env& env, std::string s);
/// Collective. Every rank's string, on rank 0 (others get an empty vector).
std::vector<std::string> GatherStrings(const Env& env, const std::string& s);

// ---- Paths ----

struct StepEntry {
  std::string name;              ///< directory name, "42" or "step_0042"
  std::optional<int64_t> step;   ///< the trailing number, when there is one
  fs::path path;
};

/// A committed checkpoint: `commit_success.txt` and `_CHECKPOINT_METADATA`, or (as Orbax wrote
/// on local disks before Aug 2026) `_CHECKPOINT_METADATA` under a name that is not temporary.
bool IsCheckpointDir(const fs::path& dir);
/// The committed checkpoints directly under `root`, by step number (then name). Temporary and
/// trash directories are not steps.
std::vector<StepEntry> ListCommittedSteps(const fs::path& root);
/// The step number of a directory name ("42", "step_0042", "ckpt-7" -> 7), if it ends in digits.
std::optional<int64_t> StepNumberOf(std::string_view name);

/// What a path argument names.
struct Target {
  bool is_checkpoint = false;     ///< a committed checkpoint directory
  fs::path path;                  ///< as given, normalised
  std::vector<StepEntry> steps;   ///< for a root: its committed steps (possibly none)
};
/// A committed checkpoint, or a directory holding steps. Throws CliError (exit 2) for a missing
/// path, a file, or an uncommitted (temporary) checkpoint, naming the path.
Target ResolveTarget(const fs::path& path);
/// The checkpoints a target stands for (itself, or every committed step of a root).
std::vector<fs::path> CheckpointsOf(const Target& t);

/// One item of a checkpoint.
struct ItemInfo {
  std::string name;
  std::string handler;                          ///< from _CHECKPOINT_METADATA, may be empty
  fs::path dir;
  std::optional<cairn::ItemMetadata> tree;      ///< when the item has a cairn `_METADATA`
  std::optional<cairn::Status> tree_error;      ///< `_METADATA` present but unreadable
};
/// The items of a committed checkpoint (item_handlers plus any directory with `_METADATA`).
/// Throws CliError if `_CHECKPOINT_METADATA` is unreadable.
std::vector<ItemInfo> ReadItems(const fs::path& checkpoint);

// ---- Reading stored pieces, independently of other ranks ----

/// C-order contiguous sub-boxes of `box` of at most `max_bytes` each (at least one element), in
/// C order: their bytes concatenated are the box's bytes. A box with no elements gives itself.
std::vector<cairn::Box> SlabsOf(const cairn::Box& box, size_t element_size, int64_t max_bytes);

/// Reads boxes of one item's stored pieces through its backend, over a single-rank communicator
/// (no other rank takes part).
class PieceReader {
 public:
  /// Throws CliError for an unknown backend name.
  PieceReader(fs::path item_dir, const std::string& backend);
  struct Request {
    const cairn::LeafMetadata* leaf = nullptr;
    const cairn::PieceMetadata* piece = nullptr;
    cairn::Box box;          ///< inside piece->box
    void* dest = nullptr;    ///< box.NumElements() * dtype size bytes
    std::function<void()> on_filled;
  };
  /// Fills every request (one backend call). Requests of a leaf are filled in order.
  cairn::Status Read(std::span<Request> requests);
  const fs::path& item_dir() const { return item_dir_; }

 private:
  fs::path item_dir_;
  std::unique_ptr<cairn::Backend> backend_;
};

// ---- Output ----

/// "1.5 GiB", "312 KiB", "17 B".
std::string HumanBytes(uint64_t bytes);
/// "2026-11-23 10:31:07" (UTC) from nanoseconds since the epoch; "-" for 0.
std::string FormatTimestamp(int64_t nanos);
/// "[4, 1024]".
std::string ShapeText(const std::vector<int64_t>& shape);
/// Bytes of the array leaf (global shape x stored dtype size).
uint64_t LeafBytes(const cairn::LeafMetadata& leaf);
/// Total size of the regular files under `dir` and their number.
std::pair<uint64_t, uint64_t> DiskUsage(const fs::path& dir);
/// Parses "256MiB", "1GiB", "4096" into bytes; throws UsageError naming `option`.
int64_t ParseBytes(const std::string& text, const std::string& option);

/// Prints `text` on rank 0 (stdout).
void Print(const Env& env, const std::string& text);
/// Prints `j` on rank 0 as the command's JSON document.
void PrintJson(const Env& env, const json& j);

/// A progress bar on stdout for rank 0 when env.progress: `verify [#####.....] 48% 1.2 GiB/2.5 GiB`.
/// Redrawn at most 10 times a second; erased by Finish() or the destructor.
class Progress {
 public:
  Progress(const Env& env, std::string label, uint64_t total);
  ~Progress();
  void Advance(uint64_t n);
  void Finish();

 private:
  void Draw(bool force);
  bool on_;
  std::string label_;
  uint64_t total_;
  uint64_t done_ = 0;
  std::chrono::steady_clock::time_point start_, last_;
  bool drawn_ = false;
};

// ---- Commands: each parses its own arguments (boost::program_options) ----

namespace po = boost::program_options;
/// Parses a command's arguments, adding --help and --json (which sets env.json and decides
/// env.progress). Returns false when --help was printed (the command then exits 0). Throws
/// UsageError for unknown options or missing positionals.
bool ParseCommandLine(Env& env, const std::vector<std::string>& args, po::options_description desc,
                      const po::positional_options_description& positional,
                      po::variables_map& vm, const std::string& usage);

int RunLs(Env& env, const std::vector<std::string>& args);
int RunTree(Env& env, const std::vector<std::string>& args);
int RunVerify(Env& env, const std::vector<std::string>& args);
int RunConvert(Env& env, const std::vector<std::string>& args);
int RunDiff(Env& env, const std::vector<std::string>& args);
int RunGc(Env& env, const std::vector<std::string>& args);

}  // namespace cairn_cli
