#pragma once
// How cairn's dtypes and leaf descriptions look inside an HDF5 file. The types match what h5py
// writes and reads (bool as an int8 enum, complex as an {r, i} compound, IEEE half), plus a
// bfloat16 float that h5dump prints as numbers.

#include <hdf5.h>

#include <string>
#include <vector>

#include "base/box_ops.h"
#include "cairn/array.h"
#include "cairn/dtype.h"
#include "storage/hdf5/h5_util.h"

namespace cairn::storage::hdf5 {

/// Name of the data file inside an item directory.
inline constexpr char kDataFileName[] = "data.h5";
/// Attribute names on each dataset.
inline constexpr char kDtypeAttr[] = "cairn_dtype";         ///< zarr name, e.g. "bfloat16"
inline constexpr char kGlobalShapeAttr[] = "global_shape";  ///< int64[rank] (length 0 for 0-d)

/// The HDF5 type cairn stores `dtype` as; also the memory type for reads and writes
/// (little-endian host). Internal if HDF5 rejects a type operation.
Result<h5::Handle> StoredType(DType dtype);

/// Writes the `cairn_dtype` and `global_shape` attributes on a dataset.
Status WriteLeafAttributes(hid_t dataset, DType dtype, const Shape& global_shape);

/// Shape or box extents as hsize_t.
std::vector<hsize_t> ToHsize(const std::vector<int64_t>& v);
using base::ShapeString;
/// The dataset path of a leaf relative to the file root ("params/dense/kernel").
std::string DatasetPath(const std::vector<std::string>& segments);
/// InvalidArgument unless there is at least one segment and every segment is a usable HDF5 link
/// name (non-empty, no '/', not ".").
Status ValidateSegments(const std::vector<std::string>& segments);

}  // namespace cairn::storage::hdf5
