// cairn: inspect, check, convert, compare and clean checkpoints from the shell.
//
//   cairn ls DIR                     steps, commit state, sizes, metrics, leftovers
//   cairn tree DIR[/STEP]            items and leaves: dtype, shape, chunks, backend, bytes
//   cairn verify DIR[/STEP]          recompute every checksum (parallel under mpirun)
//   cairn convert SRC DST --to B     rewrite with another backend, in bounded memory
//   cairn diff A B                   which leaves differ, and by how much
//   cairn gc DIR                     remove abandoned temporary directories, empty the trash
//
// Exit codes: 0 fine, 1 the command found damage or differences, 2 it could not run (usage,
// missing paths, unreadable input). Errors are one line on stderr: `cairn <command>: <message>`.

#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "cli.h"

namespace {

using cairn_cli::Env;

constexpr char kUsage[] =
    "usage: cairn <command> [options] PATH...\n"
    "\n"
    "commands:\n"
    "  ls DIR                       steps with commit state, size, files, timestamps, metrics;\n"
    "                               abandoned temporary and trash directories\n"
    "  tree DIR[/STEP]              items and key paths: dtype, global shape, chunks, backend, bytes\n"
    "  verify DIR[/STEP]            recompute every checksum, check every piece is present\n"
    "                               (runs in parallel under mpirun/srun); exit 1 if damaged\n"
    "  convert SRC DST --to hdf5|ocdbt|reference\n"
    "                               rewrite a checkpoint (or every step) with another backend,\n"
    "                               array by array in bounded memory\n"
    "  diff A B                     leaves that differ, with the max absolute difference; exit 1\n"
    "                               if any differ\n"
    "  gc DIR                       remove abandoned temporary directories and empty the trash\n"
    "\n"
    "every command takes --json (one JSON document on stdout) and --help.\n"
    "exit codes: 0 fine, 1 damage or differences found, 2 error.\n";

using Runner = int (*)(Env&, const std::vector<std::string>&);

int Dispatch(Env& env, int argc, char** argv) {
  static const std::map<std::string, Runner> kCommands = {
      {"ls", cairn_cli::RunLs},         {"tree", cairn_cli::RunTree},
      {"verify", cairn_cli::RunVerify}, {"convert", cairn_cli::RunConvert},
      {"diff", cairn_cli::RunDiff},     {"gc", cairn_cli::RunGc}};
  if (argc < 2) {
    if (env.rank == 0) std::fputs(kUsage, stderr);
    return cairn_cli::kExitError;
  }
  const std::string name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    cairn_cli::Print(env, kUsage);
    return cairn_cli::kExitOk;
  }
  auto it = kCommands.find(name);
  if (it == kCommands.end()) {
    if (env.rank == 0) {
      std::fprintf(stderr, "cairn: unknown command '%s' (ls, tree, verify, convert, diff, gc; "
                   "cairn --help)\n", name.c_str());
    }
    return cairn_cli::kExitError;
  }
  env.command = name;
  std::vector<std::string> args(argv + 2, argv + argc);
  env.json = false;
  for (const auto& a : args) env.json = env.json || a == "--json";
  try {
    return it->second(env, args);
  } catch (const cairn_cli::UsageError& e) {
    if (env.rank == 0) {
      std::fprintf(stderr, "cairn %s: %s (cairn %s --help)\n", name.c_str(), e.what(),
                   name.c_str());
    }
    return e.code;
  } catch (const cairn_cli::CliError& e) {
    if (env.rank == 0) {
      std::fprintf(stderr, "cairn %s: %s\n", name.c_str(), e.what());
      if (env.json) cairn_cli::PrintJson(env, {{"command", name}, {"error", e.what()}});
    }
    return e.code;
  }
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  Env env;
  MPI_Comm_rank(env.comm, &env.rank);
  MPI_Comm_size(env.comm, &env.size);
  int code = Dispatch(env, argc, argv);
  // The worst exit code of any rank (rank-0-only commands: rank 0's).
  int worst = code;
  MPI_Allreduce(&code, &worst, 1, MPI_INT, MPI_MAX, env.comm);
  std::fflush(stdout);
  MPI_Finalize();
  return worst;
}
