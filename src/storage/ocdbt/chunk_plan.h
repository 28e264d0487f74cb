#pragma once
// The chunk grid of each array the ocdbt backend writes, and who writes which chunk.
//
// A zarr chunk is one OCDBT value, so exactly one rank must write each chunk. The grid is the
// coarsest one every piece is a union of whole chunks of (per dimension, the GCD of the pieces'
// origins and of their extents, an extent ending at the array's end excepted) unless that grid
// is much finer than the pieces: an uneven decomposition (97 rows over 4 ranks: 25, 24, 24, 24)
// would give chunks of one row, or of one element for a 1-D array. Then the grid is the largest
// piece's extents (what JAX's shardings give Orbax) and the chunks that straddle pieces are
// "shared": their holders send their parts to one owner, which assembles and writes the chunk.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "cairn/array.h"
#include "cairn/backend.h"
#include "cairn/communicator.h"
#include "cairn/status.h"

namespace cairn::storage {

/// A non-empty piece of some rank: `index` is its position in that rank's WriteLeaf::pieces.
struct PlacedPiece {
  int rank = 0;
  size_t index = 0;
  Box box;
};

/// Collective: every rank's non-empty pieces of every leaf, per leaf in rank then piece order.
/// Internal if the ranks pass different leaves.
Result<std::vector<std::vector<PlacedPiece>>> GatherPieces(Communicator& comm,
                                                           std::span<const WriteLeaf> leaves);

/// A chunk that no single piece covers whole (within the array): `owner` assembles it from the
/// parts of the pieces that intersect it (the fill value elsewhere) and writes it.
struct SharedChunk {
  std::vector<uint64_t> index;  ///< position in the chunk grid
  Box box;                      ///< the chunk's elements, clipped at the array's end
  int owner = 0;                ///< the rank holding most of it (the lowest such rank)
  int64_t held = 0;             ///< elements the pieces hold (the rest is the fill value)
};

struct ChunkPlan {
  std::vector<uint64_t> chunk_shape;
  std::vector<SharedChunk> shared;  ///< in C order of the grid; empty for an aligned grid
  /// Per piece (same order as the pieces planned from): the indices into `shared` of the chunks
  /// it intersects, ascending. Its other chunks lie whole inside it.
  std::vector<std::vector<size_t>> touches;
};

/// The grid and shared chunks of one array of `global_shape` (elements of `elem` bytes) written
/// as `pieces` (disjoint). `cap`, when given, bounds the chunk (WriteLeaf::chunk_shape).
ChunkPlan PlanChunks(const Shape& global_shape, size_t elem, const std::optional<Shape>& cap,
                     std::span<const PlacedPiece> pieces);

}  // namespace cairn::storage
