/* cairn from C: a 2-D field decomposed by rows over the ranks, plus a step counter.
 *
 * Saves three steps with a manager, reopens the directory as a restarted job would, restores
 * the latest step into zeroed buffers and checks every value; then shows two failures and their
 * messages (a directory that cannot be created, a restore into a target of the wrong shape).
 *
 *   mpiexec -n 4 c_example [DIRECTORY]
 *
 * Without DIRECTORY it works in a fresh temporary directory, removed at the end. Prints one line
 * and exits non-zero (on every rank) if anything failed. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn/cairn.h"

enum { kRows = 10, kCols = 6, kSteps = 3 };

static int rank = 0;
static int failures = 0;

/* Reports a failed call on this rank. */
static void Check(int code, const char* what) {
  if (code == CAIRN_OK) return;
  fprintf(stderr, "rank %d: %s failed: %s (%s)\n", rank, what, cairn_status_name(code),
          cairn_last_error());
  ++failures;
}

static void Expect(int ok, const char* what) {
  if (ok) return;
  fprintf(stderr, "rank %d: expected %s\n", rank, what);
  ++failures;
}

static double Value(int64_t step, int64_t i, int64_t j) {
  return (double)step * 1000.0 + (double)(i * kCols + j) + 0.5;
}

/* This rank's rows of the field [row0, row0 + nrows), and the tree that names them. */
typedef struct {
  int64_t row0, nrows;
  double* u;
  int64_t step;
} State;

static int DescribeState(State* s, int64_t global_rows, cairn_tree** out) {
  const int64_t global[2] = {global_rows, kCols};
  const int64_t origin[2] = {s->row0, 0};
  const int64_t shape[2] = {s->nrows, kCols};
  void* data[1] = {s->u};
  int code = cairn_tree_create(out);
  if (code == CAIRN_OK)
    code = cairn_tree_add_array(*out, "fields/u", CAIRN_FLOAT64, 2, global, 1, origin, shape,
                                data);
  if (code == CAIRN_OK) code = cairn_tree_add_scalar_int64(*out, "step", &s->step);
  return code;
}

static int RemoveEntry(const char* path, const struct stat* sb, int flag, struct FTW* ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

int main(int argc, char** argv) {
  int provided = 0, size = 1;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  /* The working directory: the argument, or a temporary one made by rank 0. */
  char dir[4096] = "";
  int own_dir = argc < 2;
  if (!own_dir) {
    snprintf(dir, sizeof dir, "%s", argv[1]);
  } else if (rank == 0) {
    snprintf(dir, sizeof dir, "/tmp/cairn_c_example.XXXXXX");
    if (mkdtemp(dir) == NULL) {
      perror("mkdtemp");
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
  MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
  char ckpt[4200];
  snprintf(ckpt, sizeof ckpt, "%s/ckpt", dir);

  State s;
  s.row0 = (int64_t)rank * kRows / size;
  s.nrows = (int64_t)(rank + 1) * kRows / size - s.row0;
  s.u = calloc((size_t)(s.nrows > 0 ? s.nrows : 1) * kCols, sizeof(double));
  s.step = 0;

  cairn_manager_options opts;
  cairn_manager_options_init(&opts);
  opts.max_to_keep = 2;
  /* Background saves need MPI_THREAD_MULTIPLE. */
  opts.enable_async = provided == MPI_THREAD_MULTIPLE;

  /* 1. A run that saves steps 1..3. */
  cairn_manager* mgr = NULL;
  cairn_tree* tree = NULL;
  Check(cairn_manager_open(MPI_COMM_WORLD, ckpt, &opts, &mgr), "cairn_manager_open");
  Check(DescribeState(&s, kRows, &tree), "describing the state");
  for (int64_t step = 1; mgr != NULL && tree != NULL && step <= kSteps; ++step) {
    s.step = step;
    for (int64_t i = 0; i < s.nrows; ++i)
      for (int64_t j = 0; j < kCols; ++j) s.u[i * kCols + j] = Value(step, s.row0 + i, j);
    int saved = 0;
    Check(cairn_manager_save(mgr, step, tree, 0, &saved), "cairn_manager_save");
    Expect(saved == 1, "every step to be saved (save_interval_steps = 1)");
    /* The save copied the state: changing it now does not change the checkpoint. */
    for (int64_t k = 0; k < s.nrows * kCols; ++k) s.u[k] = -1.0;
  }
  if (mgr != NULL) Check(cairn_manager_wait(mgr), "cairn_manager_wait");
  Check(cairn_manager_close(mgr), "cairn_manager_close");
  cairn_tree_free(tree);

  /* 2. A restarted run: reopen, restore the latest step into zeroed buffers. */
  memset(s.u, 0, (size_t)(s.nrows > 0 ? s.nrows : 1) * kCols * sizeof(double));
  s.step = 0;
  mgr = NULL;
  tree = NULL;
  Check(cairn_manager_open(MPI_COMM_WORLD, ckpt, &opts, &mgr), "cairn_manager_open (restart)");
  Check(DescribeState(&s, kRows, &tree), "describing the state");
  if (mgr != NULL && tree != NULL) {
    int64_t latest = -1;
    int found = 0;
    Check(cairn_manager_latest_step(mgr, &latest, &found), "cairn_manager_latest_step");
    Expect(found == 1 && latest == kSteps, "latest step 3");
    Check(cairn_manager_restore(mgr, -1, tree), "cairn_manager_restore");
    Expect(s.step == kSteps, "the restored step counter to be 3");
    int64_t bad = 0;
    for (int64_t i = 0; i < s.nrows; ++i)
      for (int64_t j = 0; j < kCols; ++j)
        if (s.u[i * kCols + j] != Value(kSteps, s.row0 + i, j)) ++bad;
    if (bad > 0) fprintf(stderr, "rank %d: %lld restored values differ\n", rank, (long long)bad);
    Expect(bad == 0, "every restored value to match step 3");

    /* A step that max_to_keep = 2 deleted. */
    int code = cairn_manager_restore(mgr, 1, tree);
    Expect(code == CAIRN_NOT_FOUND, "restoring deleted step 1 to fail with NOT_FOUND");

    /* A target whose global shape differs from the stored one. */
    cairn_tree* wrong = NULL;
    Check(DescribeState(&s, kRows + 1, &wrong), "describing the wrong state");
    code = cairn_manager_restore(mgr, -1, wrong);
    Expect(code == CAIRN_INVALID_ARGUMENT, "a wrong shape to fail with INVALID_ARGUMENT");
    Expect(strstr(cairn_last_error(), "fields.u") != NULL, "the message to name the key path");
    if (rank == 0) printf("wrong shape: %s\n", cairn_last_error());
    cairn_tree_free(wrong);
  }
  Check(cairn_manager_close(mgr), "cairn_manager_close (restart)");
  cairn_tree_free(tree);

  /* 3. A directory that cannot be created (below a regular file). */
  char file[4200], bad_dir[4300];
  snprintf(file, sizeof file, "%s/not_a_directory", dir);
  snprintf(bad_dir, sizeof bad_dir, "%s/sub", file);
  if (rank == 0) {
    FILE* f = fopen(file, "w");
    if (f != NULL) fclose(f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  mgr = NULL;
  int code = cairn_manager_open(MPI_COMM_WORLD, bad_dir, &opts, &mgr);
  Expect(code != CAIRN_OK && mgr == NULL, "opening below a regular file to fail");
  Expect(strstr(cairn_last_error(), "not_a_directory") != NULL, "the message to name the path");
  if (rank == 0) printf("bad directory: %s\n", cairn_last_error());
  cairn_manager_close(mgr);

  /* Every rank exits with the same verdict. */
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) {
    if (total == 0)
      printf("c_example: OK (%d ranks, restored step %d of a %dx%d field)\n", size, kSteps, kRows,
             kCols);
    else
      printf("c_example: FAILED (%d failures)\n", total);
  }
  if (own_dir && rank == 0) nftw(dir, RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
  free(s.u);
  MPI_Finalize();
  return total == 0 ? 0 : 1;
}
