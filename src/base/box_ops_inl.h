#pragma once
// Template bodies for box_ops.h.

#include <cstdint>
#include <vector>

namespace cairn::base {

template <typename Fn>
void ForEachRun(const Box& box, const Box& region, Fn&& fn) {
  const size_t rank = box.shape.size();
  if (rank == 0) {
    fn(int64_t{0}, int64_t{1});
    return;
  }
  for (size_t d = 0; d < rank; ++d) {
    if (region.shape[d] == 0) return;
  }
  // Merge trailing dimensions where the region spans the whole box into one run.
  size_t inner = rank - 1;  // dims [inner, rank) form one contiguous run
  int64_t run = region.shape[rank - 1];
  while (inner > 0 && region.shape[inner] == box.shape[inner]) {
    --inner;
    run *= region.shape[inner];
  }
  // Now dims [inner, rank) form one run of `run` elements; iterate over dims [0, inner).
  std::vector<int64_t> strides(rank, 1);
  for (size_t d = rank - 1; d > 0; --d) strides[d - 1] = strides[d] * box.shape[d];
  int64_t base = 0;
  for (size_t d = 0; d < rank; ++d) base += (region.origin[d] - box.origin[d]) * strides[d];
  if (inner == 0) {
    fn(base, run);
    return;
  }
  std::vector<int64_t> idx(inner, 0);
  while (true) {
    int64_t off = base;
    for (size_t d = 0; d < inner; ++d) off += idx[d] * strides[d];
    fn(off, run);
    size_t d = inner;
    while (d > 0) {
      --d;
      if (++idx[d] < region.shape[d]) break;
      idx[d] = 0;
      if (d == 0) return;
    }
  }
}

}  // namespace cairn::base
