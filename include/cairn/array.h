#pragma once
/// Distributed arrays: a global shape and dtype, and the pieces of it that this rank holds.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cairn/dtype.h"

namespace cairn {

/// A global array shape; empty for a 0-d (scalar) array.
using Shape = std::vector<int64_t>;

/// A box in the global index space: `origin[d] <= i[d] < origin[d] + shape[d]`.
/// A 0-d array has one box with empty origin and shape.
struct Box {
  std::vector<int64_t> origin;
  std::vector<int64_t> shape;

  /// Number of elements (1 for a 0-d box, 0 if any extent is 0).
  int64_t NumElements() const;
  /// "[0:4, 8:16]".
  std::string ToString() const;
  friend bool operator==(const Box&, const Box&) = default;
};

/// One piece of a distributed array held by this rank: a box and a pointer to its elements in
/// C (row-major) order, densely packed with the array's dtype. Saving reads through `data`;
/// restoring writes through it. The memory stays owned by the caller.
struct Piece {
  Box box;
  void* data = nullptr;
};

/// An array distributed over the ranks of a communicator. Every rank describes the same global
/// shape and dtype and lists the pieces it holds (possibly none). Pieces may overlap across ranks
/// (replicas); on save a region held by several ranks is written once. Restore fills each listed
/// piece from the checkpoint whatever decomposition wrote it.
struct DistributedArray {
  DType dtype = DType::kFloat32;
  Shape global_shape;
  std::vector<Piece> pieces;

  /// This rank holds the whole array in `data` (a replicated array, or a single-rank program).
  static DistributedArray Replicated(DType dtype, Shape shape, void* data);
  /// Convenience: a typed whole-array view, e.g. `DistributedArray::Of(std::span(vec), {4, 8})`.
  template <typename T>
  static DistributedArray Of(std::span<T> data, Shape shape) {
    return Replicated(DTypeOf<std::remove_const_t<T>>(), std::move(shape),
                      const_cast<std::remove_const_t<T>*>(data.data()));
  }
};

}  // namespace cairn
