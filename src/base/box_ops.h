#pragma once
// Box arithmetic and strided copies between boxes (internal).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cairn/array.h"
#include "cairn/status.h"

namespace cairn::base {

/// Product of extents (1 for 0-d).
int64_t NumElements(const Shape& shape);
/// Intersection of two boxes of the same rank, or nullopt when empty.
std::optional<Box> Intersect(const Box& a, const Box& b);
/// True if `inner` lies within `outer`.
bool Contains(const Box& outer, const Box& inner);
/// `a` minus `b`: disjoint boxes covering exactly the elements of `a` not in `b` (at most 2*rank).
std::vector<Box> Subtract(const Box& a, const Box& b);
/// "[13, 11]" ("[]" for 0-d), for messages.
std::string ShapeString(const Shape& shape);
/// The whole-array box of a shape.
Box WholeBox(const Shape& shape);
/// True if `box` lies within [0, shape).
bool WithinShape(const Box& box, const Shape& shape);

/// Copies the elements of `region` (which lies within both `src_box` and `dst_box`) from a dense
/// C-order buffer for `src_box` into one for `dst_box`. Element size `elem` bytes.
void CopyRegion(const void* src, const Box& src_box, void* dst, const Box& dst_box,
                const Box& region, size_t elem);

/// Calls fn(offset_in_elements, run_length) for each contiguous run of `region` inside a dense
/// C-order buffer laid out for `box`, in C order.
template <typename Fn>
void ForEachRun(const Box& box, const Box& region, Fn&& fn);

}  // namespace cairn::base

#include "base/box_ops_inl.h"
