#pragma once
/// Options, as plain aggregates with documented defaults, named after their Orbax counterparts
/// (see docs/orbax-mapping.md). Fill them with designated initializers:
///   SaveOptions{.array = {.use_compression = false}}

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "cairn/tree.h"

namespace cairn {

/// Per-leaf storage customisation (Orbax `ArrayOptions.Saving.StorageOptions`).
struct StorageOptions {
  /// Cast to this dtype before saving (any cast is allowed: the caller asked for it).
  /// Default: none, the array's own dtype is stored.
  std::optional<DType> dtype;
  /// Largest chunk in bytes; the chunk shape is chosen greedily by halving the largest dimension
  /// until it fits. Default: none (contiguous layout without compression; with compression one
  /// chunk per written piece, capped at 64 MiB).
  std::optional<int64_t> chunk_byte_size;
  /// Axes to prioritise when sharding an array for storage (Orbax `shard_axes`). Default: empty
  /// (the storage layout follows the axes that are already split across ranks).
  /// Not implemented yet (issue 5): a non-default value is Unimplemented.
  std::vector<int> shard_axes;
};

/// Called for every array leaf; a returned StorageOptions overrides the global one field by field
/// (fields that are set win). Orbax `scoped_storage_options_creator`.
using ScopedStorageOptionsCreator =
    std::function<std::optional<StorageOptions>(const KeyPath&, const DistributedArray&)>;

/// A mesh of ranks (like jax.sharding.Mesh over processes): `shape`, e.g. {2, 4}, and the rank at
/// each position in row-major order (`ranks.size()` = product of `shape`, a permutation of the
/// communicator's ranks). The ranks that differ only in their coordinate along one axis (the
/// replica axis) hold replicas of the same pieces.
struct RankMesh {
  std::vector<int> shape;
  std::vector<int> ranks;
};

/// Array options (Orbax `ArrayOptions(saving, loading)`). Save and restore calls take the halves
/// directly: SaveOptions::array is a Saving, RestoreOptions::array a Loading.
struct ArrayOptions {
  /// Saving (Orbax `ArrayOptions.Saving`).
  struct Saving {
    /// Global storage options for every array leaf. Default: none set.
    StorageOptions storage_options;
    /// Write the OCDBT key-value format: true selects the "ocdbt" backend (zarr3 arrays in
    /// OCDBT databases, with Orbax's metadata files, so Orbax restores the item), whatever
    /// SaveOptions::backend says unless it names a third backend (InvalidArgument).
    /// Default: false. DEVIATION: Orbax defaults to true; cairn's default format is HDF5
    /// (SaveOptions::backend = "hdf5"), which h5py and h5dump read.
    bool use_ocdbt = false;
    /// Write arrays in the Zarr v3 format (the ocdbt backend; other backends ignore it).
    /// Default: true, as Orbax's ArrayOptions. false (zarr v2) with the ocdbt backend is
    /// Unimplemented.
    bool use_zarr3 = true;
    /// Compress array data with zstd (HDF5 filter 32015). Default: true, as in Orbax.
    bool use_compression = true;
    /// zstd level used when compressing (cairn extra). Default: 3 (zstd's default level).
    int compression_level = 3;
    /// Target size in bytes of each OCDBT data file (ocdbt backend): a rank starts a new file in
    /// `d/` once the current one holds this many bytes; 0 means no limit. Negative is
    /// InvalidArgument. Default: none (2 GiB, as Orbax on local disk).
    std::optional<int64_t> ocdbt_target_data_file_size;
    /// Copy CUDA device pieces to host through pinned (page-locked) buffers, kept in a pool and
    /// reused across saves. Default: none, meaning pinned when cairn was built with CUDA (as
    /// Orbax: on for GPU arrays). false: pageable buffers. Host pieces are copied with memcpy.
    std::optional<bool> enable_pinned_host_transfer;
    /// Validate the parameters after the OCDBT merge of the finalize step (ocdbt backend): the
    /// primary reopens the merged database and checks that every key of every rank's database
    /// is in it and every array's zarr.json parses. Default: true.
    bool enable_post_merge_validation = true;
    /// Split the writing of replicated data across the ranks holding replicas: a region held by
    /// k ranks is cut into k slices along its outermost dimension long enough, and each replica
    /// writes one, so every byte is still written exactly once and the write load is shared.
    /// Default: none, meaning true (as Orbax's array handler). false: one replica (the least
    /// loaded holder for small regions, else the lowest rank) writes each region.
    std::optional<bool> use_replica_parallel;
    /// Use replica-parallel saving only when each replica writes at least this many bytes; a
    /// smaller region is shared by fewer replicas, down to one. Default: none (no minimum).
    std::optional<int64_t> min_slice_bytes_for_replica_parallel;
    /// Parallelize a replicated region's writing over at most this many replicas. Default: none
    /// (every replica).
    std::optional<int> max_replicas_for_replica_parallel;
    /// Write each replica's share into its own folder. Default: false. In Orbax this puts the
    /// replicas' slices into separate OCDBT process folders; cairn's HDF5 backend writes one
    /// shared file per item, so the option belongs to the OCDBT backend.
    /// Not implemented yet (issue 5): a non-default value (true) is Unimplemented.
    bool enable_replica_parallel_separate_folder = false;
    /// Write Orbax's sharding file `_sharding` (ocdbt backend), which lets Orbax restore an
    /// array without a target sharding. Default: true. cairn itself records every stored
    /// piece's box and writer in its own metadata, whatever this says.
    bool enable_write_sharding_file = true;
    /// Per-leaf overrides of `storage_options`. Default: none.
    ScopedStorageOptionsCreator scoped_storage_options_creator;
  };
  /// Loading (Orbax `ArrayOptions.Loading`).
  struct Loading {
    /// Allow a target global shape that differs from the stored one (same rank): the overlap is
    /// restored, the rest of the target is zero-filled, stored data outside it is dropped.
    /// Default: false (a shape mismatch is InvalidArgument naming the key path).
    bool enable_padding_and_truncation = false;
    /// A region of the target not covered by stored data is an error (DataLoss naming the key
    /// path and region). When false it is zero-filled. Default: true.
    bool raise_array_data_missing_error = true;
    /// Read each replicated target piece on one replica only (the primary replica) and broadcast
    /// it to the other replicas, over MPI for host memory and NCCL for CUDA device memory (when
    /// built with NCCL). Replicas are the ranks whose target pieces have the same box; with
    /// `load_and_broadcast_options.mesh` the replica of a rank is its coordinate along
    /// `replica_axis_index`. Pieces held by one rank are read as usual. Default: false.
    bool use_load_and_broadcast = false;
    /// Load-and-broadcast settings (Orbax `ArrayOptions.Loading.LoadAndBroadcastOptions`).
    struct LoadAndBroadcastOptions {
      /// Axis of the rank mesh along which the replicas lie (used with `mesh`). Default: 0.
      int replica_axis_index = 0;
      /// The replica that reads the checkpoint and broadcasts it. Without a mesh, replica i of a
      /// piece is its i-th holder in rank order. Default: 0.
      int primary_replica_id = 0;
      /// Most bytes moved by one broadcast call (the chunk size). Default: none, meaning
      /// `broadcast_memory_scaling_factor` of the available memory (host MemAvailable, or free
      /// device memory for CUDA pieces), at most 1 GiB.
      std::optional<int64_t> broadcast_memory_limit_bytes;
      /// Fraction of the available memory used for broadcasting when no limit is given.
      /// Default: 0.75.
      double broadcast_memory_scaling_factor = 0.75;
      /// cairn extra: the rank mesh the replicas lie on (Orbax reads it from the arrays'
      /// shardings; cairn's arrays carry no mesh). See RankMesh; `cairn::RankMeshFromCartesian`
      /// (cairn/mpi.h) builds one from an MPI Cartesian communicator. Default: none.
      std::optional<RankMesh> mesh;
    };
    /// Default: LoadAndBroadcastOptions{}.
    LoadAndBroadcastOptions load_and_broadcast_options;
  };

  /// Saving options. Default: Saving{}.
  Saving saving;
  /// Loading options. Default: Loading{}.
  Loading loading;
};

/// Directory and file options (Orbax `FileOptions`).
struct FileOptions {
  /// Permission bits for created step/item directories and metadata files, e.g. 0750.
  /// Default: none (the process umask decides).
  std::optional<uint32_t> path_permission_mode;
  // Orbax `temporary_path_class` and `path_class` are Python classes: not applicable (see
  // docs/orbax-mapping.md).
};

/// Multi-process options (Orbax `MultiprocessingOptions`).
struct MultiprocessingOptions {
  /// Rank (of the communicator given to Create) that writes shared metadata and commits.
  /// Default: 0. None (an empty optional): every rank is the primary of its own checkpoint, for
  /// node-local storage: each rank writes the pieces it holds (replicas included), the metadata
  /// and the commit marker into its own copy of the directory, and restores from it; the ranks
  /// still agree on every outcome. Give each rank its own directory (a node-local path).
  std::optional<int> primary_host = 0;
  /// The ranks (of the communicator given to Create) over which the checkpointer or manager is
  /// created and called; `primary_host` must be one of them. Create is then called on these
  /// ranks only and works over a communicator of just them; the other ranks are untouched and
  /// may do anything meanwhile. Ranks in error messages are ranks of that communicator (the
  /// i-th smallest active rank is rank i). Default: none (every rank of the communicator).
  std::optional<std::set<int>> active_processes;
  /// Prepended to the name of every barrier and collective of the checkpointer or manager (the
  /// names appear in timeout errors and are the keys given to AsyncOptions.barrier_sync_fn), to
  /// tell concurrent managers apart. Their traffic never mixes anyway: each checkpointer and
  /// manager works over its own duplicate of the communicator. Default: none.
  std::optional<std::string> barrier_sync_key_prefix;
};

/// Tree options (Orbax `PyTreeOptions(saving, loading)`).
struct PyTreeOptions {
  /// Saving (Orbax `PyTreeOptions.Saving`). Orbax's `pytree_metadata_options` has no counterpart:
  /// the tree's structure is always recorded in `_METADATA` (see docs/orbax-mapping.md).
  struct Saving {};
  /// Loading (Orbax `PyTreeOptions.Loading`).
  struct Loading {
    /// Restore only the keys of the target. Default: false. Restore calls take this option as
    /// RestoreOptions::partial_load; this struct mirrors Orbax's grouping and no call reads it.
    bool partial_load = false;
  };
  /// Default: Saving{}.
  Saving saving;
  /// Default: Loading{}.
  Loading loading;
};

/// Memory limits for save and restore (Orbax `MemoryOptions`), per rank. The limits bound the
/// *extra* memory cairn uses beyond the application's own arrays: staging copies of an async save,
/// packing/cast buffers of a save, read buffers of a restore. A piece larger than a limit is
/// written or read in slabs that fit. With compression, a fifth of a write limit is left to the
/// compressor (chunks are then at most a twelfth of the rest). Staging bytes of each save are
/// reported in `_CHECKPOINT_METADATA.performance_metrics.staging_peak_bytes`.
struct MemoryOptions {
  /// Most extra bytes held for writing at once (staging copies and packing/cast buffers).
  /// For an async save this also bounds the staging copies, so with a limit below the state size
  /// `Save` blocks until the part beyond the limit has been written (as with
  /// transfer_concurrent_bytes). Default: none (no limit).
  std::optional<int64_t> write_concurrent_bytes;
  /// Most extra bytes held for reading at once (restore's read buffers). Default: none (256 MiB
  /// rounds).
  std::optional<int64_t> read_concurrent_bytes;
  /// Most bytes of staging copies (device-to-host transfers for CUDA memory, host copies
  /// otherwise) held at once by an async save. When the state is larger, arrays beyond the limit
  /// are copied only after earlier ones were written; `Save` returns once everything has been
  /// copied, so it may block on writes (unless is_prioritized_key_fn is set, see there).
  /// Default: none (no limit: the whole state is copied before `Save` returns).
  std::optional<int64_t> transfer_concurrent_bytes;
  /// Keys copied first, before `Save` returns, ignoring transfer_concurrent_bytes (they are
  /// assumed small). When set together with a transfer limit, `Save` returns right after the
  /// prioritized keys (and whatever else fits the limit) are copied; the rest is copied in the
  /// background from the caller's memory after the prioritized keys are written, so the caller
  /// must call WaitUntilFinished before changing non-prioritized arrays. Default: none.
  std::function<bool(const KeyPath&)> is_prioritized_key_fn;
};

/// Options for asynchronous saving (Orbax `AsyncOptions`).
struct AsyncOptions {
  /// Seconds a rank waits for the others at every barrier and collective of a checkpointer or
  /// manager (saves, restores, save decisions, background saves) before giving up with
  /// DeadlineExceeded naming the phase and the ranks that did not arrive, on every rank that
  /// did. The step is then not committed. Not covered: the collective MPI-IO calls inside
  /// parallel HDF5 once every rank has entered them. Default: 1200.
  int timeout_secs = 1200;
  /// A user barrier `fn(key, timeout_ms)` that every rank calls before each agreement point of a
  /// background save, instead of relying on cairn's own (Orbax v0 `barrier_sync_fn`); keys are
  /// `cairn.<step directory name>.<phase>`, e.g. `cairn.42.write_item_state`. It runs on the background
  /// thread. Default: none.
  std::function<Status(std::string_view key, int timeout_ms)> barrier_sync_fn;
  /// Called once per committed save, on each rank, on the background thread (after the commit
  /// and, for a manager, after old steps were cleaned up). Default: none.
  std::function<void()> post_finalization_callback;
  /// Create the step's temporary directory in the background instead of inside `Save`.
  /// Default: true.
  bool create_directories_asynchronously = true;
};

/// Options for one save.
struct SaveOptions {
  /// Storage backend, by registry name ("hdf5", "ocdbt", "reference"). Default: "hdf5".
  /// array.use_ocdbt = true selects "ocdbt".
  std::string backend = "hdf5";
  /// Array saving options. Default: see ArrayOptions::Saving.
  ArrayOptions::Saving array;
  /// User metadata stored in `_CHECKPOINT_METADATA` (`custom_metadata`). Default: empty object.
  nlohmann::json custom_metadata = nlohmann::json::object();
  /// Metrics stored in `_CHECKPOINT_METADATA` (`metrics`). Default: empty object.
  nlohmann::json metrics = nlohmann::json::object();
};

/// Options for one restore.
struct RestoreOptions {
  /// Array loading options. Default: see ArrayOptions::Loading.
  ArrayOptions::Loading array;
  /// Restore only the keys of the target; keys the checkpoint holds beyond them are not read and
  /// are not errors (Orbax `PyTreeOptions.Loading.partial_load`). Default: false.
  bool partial_load = false;
  /// Missing keys (in the target, not in the checkpoint) and, unless `partial_load`, unexpected
  /// keys (in the checkpoint, not in the target) are NotFound/InvalidArgument errors naming them.
  /// When false they are skipped and listed in the RestoreReport. Default: true.
  bool strict = true;
  /// Restore into a target dtype different from the stored one when the cast is exact
  /// (e.g. int16 -> int32, float32 -> float64). Default: false (a dtype mismatch is an error).
  bool allow_cast = false;
  /// Also allow casts that may lose information (float -> int, narrowing, int32 -> float32
  /// beyond 2^24). Implies allow_cast. Default: false.
  bool allow_lossy_cast = false;
  /// Verify each stored piece's xxh3 checksum while reading (whole stored pieces are read).
  /// Default: true.
  bool verify_checksums = true;
};

/// What a restore did not restore (only non-empty when `strict` is false).
struct RestoreReport {
  /// Key paths in the target that the checkpoint does not hold (left untouched).
  std::vector<std::string> skipped_missing;
  /// Key paths in the checkpoint that the target does not hold (not read).
  std::vector<std::string> skipped_unexpected;
  /// Most bytes of read buffers this rank held at once (bounded by
  /// MemoryOptions.read_concurrent_bytes when set).
  int64_t peak_buffer_bytes = 0;
  /// Array bytes this rank read from storage (stored pieces, before casting).
  int64_t bytes_read = 0;
  /// Array bytes this rank received from another replica (load-and-broadcast).
  int64_t bytes_received = 0;
  /// Array bytes this rank sent as the reading replica (load-and-broadcast; counted once per
  /// broadcast, whatever the number of receivers).
  int64_t bytes_broadcast = 0;
  /// Largest single broadcast call on this rank, in bytes (bounded by the broadcast memory
  /// limit).
  int64_t max_broadcast_chunk_bytes = 0;
  /// The broadcast transports used: "mpi", "nccl" (empty without load-and-broadcast).
  std::vector<std::string> broadcast_transports;
};

/// OK, or Unimplemented naming the first field set to a value cairn does not implement yet (and
/// the issue that will implement it), e.g. `SaveOptions.array.use_ocdbt`. Local, no MPI: every
/// rank passing the same options gets the same answer. Call before any collective work.
[[nodiscard]] Status CheckImplemented(const SaveOptions& options);
[[nodiscard]] Status CheckImplemented(const RestoreOptions& options);
[[nodiscard]] Status CheckImplemented(const MultiprocessingOptions& options);
/// The same for one leaf's StorageOptions (the global ones, or a scoped creator's result;
/// `where` names it in the message, e.g. a key path). Default `where`: "StorageOptions".
[[nodiscard]] Status CheckImplemented(const StorageOptions& options,
                                      std::string_view where = "StorageOptions");
/// The backend a save with `options` uses: SaveOptions::backend, or "ocdbt" when
/// array.use_ocdbt. InvalidArgument / Unimplemented for contradicting fields.
[[nodiscard]] Result<std::string> ResolveBackendName(const SaveOptions& options);
/// InvalidArgument for a limit that is not positive, naming the field.
[[nodiscard]] Status ValidateMemoryOptions(const MemoryOptions& options);

}  // namespace cairn
