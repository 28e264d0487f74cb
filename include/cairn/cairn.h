#ifndef CAIRN_CAIRN_H_
#define CAIRN_CAIRN_H_
/* The C API of cairn, for C and (through iso_c_binding) Fortran MPI codes. C99, no C++ types.
 *
 * A manager (cairn::CheckpointManager) keeps numbered steps of a checkpoint under one
 * directory; a tree names the distributed arrays and scalars a step holds. Every function that
 * can fail returns an int: a cairn_status value, CAIRN_OK (0) on success. After a failure,
 * cairn_last_error() gives this thread's message, which names what to act on (the key path, the
 * file, the rank). No C++ exception crosses this API (one that escapes cairn is returned as
 * CAIRN_INTERNAL with its message).
 *
 * Collective functions must be called by every rank of the manager's communicator, in the same
 * order; they return the same code on every rank. A save is asynchronous by default: it returns
 * once the state is copied; the write and commit run on a background thread, which needs MPI
 * initialised with MPI_THREAD_MULTIPLE (else set enable_async = 0).
 *
 *   cairn_manager_options o;
 *   cairn_manager_options_init(&o);
 *   o.max_to_keep = 3;
 *   cairn_manager* mgr;
 *   if (cairn_manager_open(MPI_COMM_WORLD, "/scratch/run1", &o, &mgr) != CAIRN_OK)
 *     fprintf(stderr, "%s\n", cairn_last_error());
 *   cairn_tree* t;
 *   cairn_tree_create(&t);
 *   cairn_tree_add_array(t, "fields/u", CAIRN_FLOAT64, 2, global_shape, 1, origin, shape, &u);
 *   cairn_tree_add_scalar_int64(t, "step", &step);
 *   cairn_manager_save(mgr, step, t, 0, NULL);
 *   ...
 *   cairn_manager_restore(mgr, -1, t);   (fills u and step from the latest step)
 *   cairn_tree_free(t);
 *   cairn_manager_close(mgr);
 */

#include <mpi.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: the values of cairn::StatusCode (absl family), stable. */
typedef enum cairn_status {
  CAIRN_OK = 0,
  CAIRN_CANCELLED = 1,
  CAIRN_UNKNOWN = 2,
  CAIRN_INVALID_ARGUMENT = 3,
  CAIRN_DEADLINE_EXCEEDED = 4,
  CAIRN_NOT_FOUND = 5,
  CAIRN_ALREADY_EXISTS = 6,
  CAIRN_PERMISSION_DENIED = 7,
  CAIRN_RESOURCE_EXHAUSTED = 8,
  CAIRN_FAILED_PRECONDITION = 9,
  CAIRN_ABORTED = 10,
  CAIRN_OUT_OF_RANGE = 11,
  CAIRN_UNIMPLEMENTED = 12,
  CAIRN_INTERNAL = 13,
  CAIRN_UNAVAILABLE = 14,
  CAIRN_DATA_LOSS = 15
} cairn_status;

/* Element types: the values of cairn::DType (zarr v3 names). Elements are densely packed in C
 * (row-major) order; bool is one byte; float16/bfloat16 are 16-bit patterns; complex types are
 * pairs of float/double (C99 float _Complex / double _Complex). */
typedef enum cairn_dtype {
  CAIRN_BOOL = 0,
  CAIRN_INT8 = 1,
  CAIRN_INT16 = 2,
  CAIRN_INT32 = 3,
  CAIRN_INT64 = 4,
  CAIRN_UINT8 = 5,
  CAIRN_UINT16 = 6,
  CAIRN_UINT32 = 7,
  CAIRN_UINT64 = 8,
  CAIRN_FLOAT16 = 9,
  CAIRN_BFLOAT16 = 10,
  CAIRN_FLOAT32 = 11,
  CAIRN_FLOAT64 = 12,
  CAIRN_COMPLEX64 = 13,
  CAIRN_COMPLEX128 = 14
} cairn_dtype;

/* Opaque handles. */
typedef struct cairn_manager cairn_manager;
typedef struct cairn_tree cairn_tree;

/* The manager's options: a subset of cairn::CheckpointManagerOptions. Fill with
 * cairn_manager_options_init, then change fields. */
typedef struct cairn_manager_options {
  /* Keep at most this many steps (the newest); 0 keeps all. Default: 0. */
  int max_to_keep;
  /* Save when step % save_interval_steps == 0 (0: only forced saves). Default: 1. */
  int save_interval_steps;
  /* Save in the background (needs MPI_THREAD_MULTIPLE). Default: 1. */
  int enable_async;
  /* Compress arrays with zstd. Default: 1. */
  int use_compression;
  /* Seconds a rank waits for the others at each barrier before DEADLINE_EXCEEDED. Default: 1200. */
  int timeout_secs;
  /* Rank that writes shared metadata and commits; -1: every rank writes its own copy of the
   * checkpoint (node-local storage). Default: 0. */
  int primary_host;
  /* Create the directory if missing (else NOT_FOUND). Default: 1. */
  int create;
  /* Storage backend ("hdf5", "reference"); NULL for the default ("hdf5"). The string is copied
   * by cairn_manager_open. Default: NULL. */
  const char* backend;
} cairn_manager_options;

/* Fills `opts` with the defaults above (those of the C++ API). Local. */
void cairn_manager_options_init(cairn_manager_options* opts);

/* Collective over `comm`. Opens (creating it unless opts->create is 0) the manager's directory
 * and reads its committed steps. `opts` may be NULL (defaults). cairn works over its own
 * duplicate of `comm`: the caller may free `comm` afterwards. On success *out is a new manager,
 * owned by the caller, released by cairn_manager_close; on failure *out is NULL.
 * INVALID_ARGUMENT for a bad option (naming it), NOT_FOUND for a missing directory with
 * create = 0, FAILED_PRECONDITION if MPI is not initialised, other codes for I/O errors
 * (naming the path). */
int cairn_manager_open(MPI_Comm comm, const char* directory, const cairn_manager_options* opts,
                       cairn_manager** out);
/* cairn_manager_open for Fortran: `comm` is a Fortran communicator handle (MPI_Fint, e.g.
 * MPI_COMM_WORLD of `use mpi`, or comm%MPI_VAL of `use mpi_f08`). */
int cairn_manager_open_f(MPI_Fint comm, const char* directory, const cairn_manager_options* opts,
                         cairn_manager** out);

/* Local. A new, empty tree, owned by the caller (free with cairn_tree_free). A tree only points
 * at the caller's memory: the buffers and scalars added must stay valid while it is used. */
int cairn_tree_create(cairn_tree** out);

/* Local. Adds a distributed array at `key_path` ("params/w": map keys separated by '/').
 * Every rank adds the same key paths with the same dtype, ndim and global_shape, and lists the
 * `npieces` pieces (possibly 0) of the array it holds: piece i is the box starting at
 * origins[i*ndim ...] with extent shapes[i*ndim ...], its elements densely packed in C order at
 * data[i]. Pieces may overlap across ranks (a region held by several ranks is saved once).
 * Saving reads the buffers, restoring writes them (whatever decomposition wrote the
 * checkpoint). The arrays origins/shapes/data are copied; the buffers are not.
 * INVALID_ARGUMENT for a bad key path, dtype, ndim < 0, npieces < 0, a piece outside the global
 * shape, a NULL buffer of a non-empty piece, or a key already added. */
int cairn_tree_add_array(cairn_tree* tree, const char* key_path, cairn_dtype dtype, int ndim,
                         const int64_t* global_shape, int npieces, const int64_t* origins,
                         const int64_t* shapes, void* const* data);
/* Local. Adds a scalar at `key_path`, replicated on every rank: a save stores *value as it is at
 * the time of the save (the primary rank's), a restore writes the stored value into *value on
 * every rank. `value` stays owned by the caller. INVALID_ARGUMENT as for arrays. */
int cairn_tree_add_scalar_int64(cairn_tree* tree, const char* key_path, int64_t* value);
int cairn_tree_add_scalar_double(cairn_tree* tree, const char* key_path, double* value);
/* Local. Frees the tree (not the caller's buffers). NULL is allowed. */
void cairn_tree_free(cairn_tree* tree);

/* Collective. Saves `tree` as step `step` if the save interval says so or `force` is non-zero;
 * *saved (if not NULL) tells whether it saved. Asynchronous by default: once it returns the
 * arrays were copied and the caller may change them. After the commit, steps beyond
 * max_to_keep are deleted (the newest is always kept). FAILED_PRECONDITION for a step at or
 * below the latest one; the failure of an earlier background save is returned here too. */
int cairn_manager_save(cairn_manager* mgr, int64_t step, const cairn_tree* tree, int force,
                       int* saved);
/* Collective. Restores step `step` (-1: the latest committed step) into the buffers and scalars
 * of `tree`, which must hold exactly the keys of the checkpoint (other decompositions are fine).
 * NOT_FOUND (naming the available steps) for a step that is not committed; INVALID_ARGUMENT
 * naming the key path for a dtype or global shape that differs from the stored one; DATA_LOSS
 * for a corrupt file. */
int cairn_manager_restore(cairn_manager* mgr, int64_t step, cairn_tree* tree);
/* Local. The newest committed step: *found = 1 and *step set, or *found = 0 when there is none
 * (a save in flight counts once committed). */
int cairn_manager_latest_step(cairn_manager* mgr, int64_t* step, int* found);
/* Collective. Blocks until the save in flight is committed; returns its outcome. */
int cairn_manager_wait(cairn_manager* mgr);
/* Collective. Waits for the save in flight, frees the manager and returns that save's failure
 * if it was not reported yet. The manager is freed whatever the code. NULL is allowed. */
int cairn_manager_close(cairn_manager* mgr);

/* The message of this thread's last failed call ("InvalidArgument: key path 'params.w': ..."),
 * "" if none failed yet. Valid until the next failing call on this thread. */
const char* cairn_last_error(void);
/* The name of a cairn_status value ("DataLoss"), "Unknown" for any other value. Static. */
const char* cairn_status_name(int code);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CAIRN_CAIRN_H_ */
