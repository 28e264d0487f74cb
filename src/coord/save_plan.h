#pragma once
// Planning a save: what every rank holds, checked for consistency across ranks, and which rank
// writes which box so that every stored element is written exactly once.

#include <optional>
#include <string>
#include <vector>

#include "cairn/communicator.h"
#include "cairn/options.h"
#include "cairn/tree.h"

namespace cairn::coord {

/// One leaf as one rank describes it (after resolving storage options).
struct LeafDescriptor {
  KeyPath key_path;
  std::string kind;                        // "array", "scalar", "string", "json"
  DType dtype = DType::kFloat32;           // arrays: the caller's dtype
  DType stored_dtype = DType::kFloat32;    // after StorageOptions.dtype
  std::optional<int64_t> chunk_byte_size;  // resolved StorageOptions.chunk_byte_size
  Shape global_shape;
  std::vector<Box> boxes;  // this rank's pieces
};

/// Validates `tree` locally (key names, piece boxes inside the shape, data pointers) and
/// describes it. InvalidArgument naming the key path.
Result<std::vector<LeafDescriptor>> DescribeTree(const Tree& tree,
                                                 const ArrayOptions::Saving& options);

/// The descriptors of every rank, indexed [rank][leaf]. Collective (one allgather). Checks that
/// every rank has the same leaves with the same kinds, dtypes, shapes and storage options;
/// InvalidArgument naming the key path and the first disagreeing rank. Returns the same Status
/// on every rank.
Result<std::vector<std::vector<LeafDescriptor>>> GatherDescriptors(
    Communicator& comm, const std::vector<LeafDescriptor>& mine);

/// A box to be written by `rank`, taken from its local piece `local_piece`.
struct PlannedPiece {
  int rank = 0;
  int local_piece = 0;
  Box box;
};

/// Deterministic on every rank: each rank's pieces in rank order, minus what lower ranks (and
/// earlier pieces) already cover. Zero-element boxes are dropped.
std::vector<PlannedPiece> PlanWrites(const std::vector<std::vector<LeafDescriptor>>& all,
                                     size_t leaf_index);

/// Replica-parallel writing (Orbax `use_replica_parallel`): a region held by several ranks is
/// split into slices written by different holders instead of by one.
struct ReplicaParallel {
  /// Split replicated regions across their holders. Default: false (the lowest rank holding a
  /// region writes all of it, as the two-argument PlanWrites does).
  bool enabled = false;
  /// Each writing replica writes at least about this many bytes; a region too small for every
  /// holder to reach it is shared by fewer (at least one). Orbax
  /// `min_slice_bytes_for_replica_parallel`. Default: 0 (no minimum).
  int64_t min_slice_bytes = 0;
  /// At most this many holders share one region. Orbax `max_replicas_for_replica_parallel`.
  /// Default: 0 (no limit).
  int max_replicas = 0;
};

/// Like the two-argument PlanWrites, and when `rp.enabled` each planned box is then shared by
/// the ranks holding a piece that contains all of it: n = min(holders, max_replicas,
/// bytes / min_slice_bytes) of them (at least 1) each write one of n contiguous slices, cut along
/// the outermost dimension whose extent is >= n (balanced, extents differ by at most 1; when no
/// extent reaches n, the largest extent is cut into that many slices). The writers are the
/// holders with the smallest `*load` (ties: lowest rank); the least loaded gets the first slice.
/// `load` (bytes already assigned to each rank, in the leaf's stored dtype) is updated with this
/// leaf's plan (also when disabled) and grown to the number of ranks; pass the same vector for
/// every leaf of a tree so that many small replicated arrays spread over the ranks. Null: start
/// from zero. Every element is written exactly once; each piece's `local_piece` is the writer's
/// first piece containing its box. Deterministic: every rank computes the same plan.
std::vector<PlannedPiece> PlanWrites(const std::vector<std::vector<LeafDescriptor>>& all,
                                     size_t leaf_index, const ReplicaParallel& rp,
                                     std::vector<int64_t>* load = nullptr);

/// Bytes each rank writes under `plan` (indexed by rank, size `nranks`), for elements of
/// `elem_size` bytes. Every piece's rank must be below `nranks`.
std::vector<int64_t> BytesPerRank(const std::vector<PlannedPiece>& plan, size_t elem_size,
                                  int nranks);

/// Splits every planned piece larger than `max_bytes` into slabs of at most `max_bytes` (along
/// the outermost dimension first, then inner ones for rows larger than the limit; never below
/// one element). Deterministic, so every rank computes the same plan. Keeps order.
void SplitPlannedPieces(std::vector<PlannedPiece>& plan, size_t elem_size, int64_t max_bytes);

/// Chunk shape for a stored array: none for contiguous layout; greedy halving of the largest
/// dimension from `start` until the chunk fits `max_bytes`.
Shape GreedyChunkShape(Shape start, size_t elem_size, int64_t max_bytes);

/// The chunk shape used for a leaf: chunk_byte_size when set, else (when compressing) the
/// first planned piece's shape capped at 64 MiB; nullopt for contiguous layout (also for 0-d
/// and empty arrays, which HDF5 cannot chunk).
/// `max_chunk_bytes` lowers the 64 MiB cap (a memory limit: compression holds a few chunk-sized
/// buffers per write).
std::optional<Shape> ChooseChunkShape(const LeafDescriptor& leaf, bool compress,
                                      const std::vector<PlannedPiece>& plan,
                                      std::optional<int64_t> max_chunk_bytes = std::nullopt);

/// Key names must be non-empty and contain neither '.' nor '/' (they are HDF5 group names and
/// key-path separators).
Status ValidateKey(const std::string& key, const KeyPath& path);

}  // namespace cairn::coord
