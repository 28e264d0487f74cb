#include <algorithm>
#include <cstring>
#include <string>

#include "base/box_ops.h"

namespace cairn {

int64_t Box::NumElements() const { return base::NumElements(shape); }

std::string Box::ToString() const {
  std::string s = "[";
  for (size_t d = 0; d < shape.size(); ++d) {
    if (d) s += ", ";
    s += std::to_string(origin[d]) + ":" + std::to_string(origin[d] + shape[d]);
  }
  return s + "]";
}

DistributedArray DistributedArray::Replicated(DType dtype, Shape shape, void* data) {
  DistributedArray a;
  a.dtype = dtype;
  a.global_shape = shape;
  a.pieces.push_back(Piece{base::WholeBox(shape), data});
  return a;
}

namespace base {

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t e : shape) n *= e;
  return n;
}

std::string ShapeString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Box WholeBox(const Shape& shape) { return Box{std::vector<int64_t>(shape.size(), 0), shape}; }

bool WithinShape(const Box& box, const Shape& shape) {
  if (box.origin.size() != shape.size() || box.shape.size() != shape.size()) return false;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (box.origin[d] < 0 || box.shape[d] < 0 || box.origin[d] + box.shape[d] > shape[d]) {
      return false;
    }
  }
  return true;
}

std::optional<Box> Intersect(const Box& a, const Box& b) {
  Box r;
  const size_t rank = a.shape.size();
  r.origin.resize(rank);
  r.shape.resize(rank);
  for (size_t d = 0; d < rank; ++d) {
    int64_t lo = std::max(a.origin[d], b.origin[d]);
    int64_t hi = std::min(a.origin[d] + a.shape[d], b.origin[d] + b.shape[d]);
    if (hi <= lo) return std::nullopt;
    r.origin[d] = lo;
    r.shape[d] = hi - lo;
  }
  return r;
}

bool Contains(const Box& outer, const Box& inner) {
  for (size_t d = 0; d < outer.shape.size(); ++d) {
    if (inner.origin[d] < outer.origin[d] ||
        inner.origin[d] + inner.shape[d] > outer.origin[d] + outer.shape[d]) {
      return false;
    }
  }
  return true;
}

std::vector<Box> Subtract(const Box& a, const Box& b) {
  std::optional<Box> overlap = Intersect(a, b);
  if (!overlap) return {a};
  std::vector<Box> out;
  Box rest = a;  // shrinks dimension by dimension
  for (size_t d = 0; d < a.shape.size(); ++d) {
    int64_t lo = overlap->origin[d], hi = lo + overlap->shape[d];
    int64_t rlo = rest.origin[d], rhi = rlo + rest.shape[d];
    if (lo > rlo) {
      Box below = rest;
      below.shape[d] = lo - rlo;
      out.push_back(below);
    }
    if (hi < rhi) {
      Box above = rest;
      above.origin[d] = hi;
      above.shape[d] = rhi - hi;
      out.push_back(above);
    }
    rest.origin[d] = lo;
    rest.shape[d] = hi - lo;
  }
  return out;
}

void CopyRegion(const void* src, const Box& src_box, void* dst, const Box& dst_box,
                const Box& region, size_t elem) {
  // Both buffers are walked run by run; runs line up because both iterate `region` in C order
  // and the run length is limited by the narrower of the two layouts.
  std::vector<std::pair<int64_t, int64_t>> src_runs, dst_runs;
  ForEachRun(src_box, region, [&](int64_t off, int64_t len) { src_runs.emplace_back(off, len); });
  ForEachRun(dst_box, region, [&](int64_t off, int64_t len) { dst_runs.emplace_back(off, len); });
  const auto* s = static_cast<const unsigned char*>(src);
  auto* t = static_cast<unsigned char*>(dst);
  size_t i = 0, j = 0;
  int64_t si = 0, dj = 0;  // consumed elements within the current runs
  while (i < src_runs.size() && j < dst_runs.size()) {
    int64_t n = std::min(src_runs[i].second - si, dst_runs[j].second - dj);
    std::memcpy(t + (dst_runs[j].first + dj) * elem, s + (src_runs[i].first + si) * elem, n * elem);
    si += n;
    dj += n;
    if (si == src_runs[i].second) ++i, si = 0;
    if (dj == dst_runs[j].second) ++j, dj = 0;
  }
}

}  // namespace base
}  // namespace cairn
