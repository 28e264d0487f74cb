#include "storage/hdf5/hdf5_types.h"

#include <array>
#include <cstdint>
#include <string>

namespace cairn::storage::hdf5 {
namespace {

// h5py's float16: IEEE_F32LE reshaped to 1 sign, 5 exponent and 10 mantissa bits.
constexpr h5::FloatLayout kHalfLayout{.sign_pos = 15,
                                      .exp_pos = 10,
                                      .exp_size = 5,
                                      .mant_pos = 0,
                                      .mant_size = 10,
                                      .size = 2,
                                      .exp_bias = 15};
// bfloat16: the top half of a float32 (8 exponent bits, bias 127, 7 mantissa bits).
constexpr h5::FloatLayout kBfloat16Layout{.sign_pos = 15,
                                          .exp_pos = 7,
                                          .exp_size = 8,
                                          .mant_pos = 0,
                                          .mant_size = 7,
                                          .size = 2,
                                          .exp_bias = 127};

Result<h5::Handle> FloatType(const h5::FloatLayout& layout) {
  CAIRN_ASSIGN_OR_RETURN(h5::Handle t, h5::CopyType(H5T_IEEE_F32LE));
  CAIRN_RETURN_IF_ERROR(h5::SetFloatLayout(t.id(), layout));
  return t;
}

// h5py's bool: an enum over int8 with FALSE = 0 and TRUE = 1.
Result<h5::Handle> BoolType() {
  CAIRN_ASSIGN_OR_RETURN(h5::Handle t, h5::CreateEnum(H5T_STD_I8LE));
  const int8_t f = 0, t1 = 1;
  CAIRN_RETURN_IF_ERROR(h5::EnumInsert(t.id(), "FALSE", &f));
  CAIRN_RETURN_IF_ERROR(h5::EnumInsert(t.id(), "TRUE", &t1));
  return t;
}

// h5py's complex: a compound of two IEEE floats named "r" and "i".
Result<h5::Handle> ComplexType(hid_t part, size_t part_size) {
  CAIRN_ASSIGN_OR_RETURN(h5::Handle t, h5::CreateCompound(2 * part_size));
  CAIRN_RETURN_IF_ERROR(h5::CompoundInsert(t.id(), "r", 0, part));
  CAIRN_RETURN_IF_ERROR(h5::CompoundInsert(t.id(), "i", part_size, part));
  return t;
}

}  // namespace

Result<h5::Handle> StoredType(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return BoolType();
    case DType::kInt8:
      return h5::CopyType(H5T_STD_I8LE);
    case DType::kInt16:
      return h5::CopyType(H5T_STD_I16LE);
    case DType::kInt32:
      return h5::CopyType(H5T_STD_I32LE);
    case DType::kInt64:
      return h5::CopyType(H5T_STD_I64LE);
    case DType::kUint8:
      return h5::CopyType(H5T_STD_U8LE);
    case DType::kUint16:
      return h5::CopyType(H5T_STD_U16LE);
    case DType::kUint32:
      return h5::CopyType(H5T_STD_U32LE);
    case DType::kUint64:
      return h5::CopyType(H5T_STD_U64LE);
    case DType::kFloat16:
      return FloatType(kHalfLayout);
    case DType::kBfloat16:
      return FloatType(kBfloat16Layout);
    case DType::kFloat32:
      return h5::CopyType(H5T_IEEE_F32LE);
    case DType::kFloat64:
      return h5::CopyType(H5T_IEEE_F64LE);
    case DType::kComplex64:
      return ComplexType(H5T_IEEE_F32LE, 4);
    case DType::kComplex128:
      return ComplexType(H5T_IEEE_F64LE, 8);
  }
  return InvalidArgumentError("unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

Status WriteLeafAttributes(hid_t dataset, DType dtype, const Shape& global_shape) {
  {
    CAIRN_ASSIGN_OR_RETURN(h5::Handle str, h5::CreateVlenUtf8String());
    CAIRN_ASSIGN_OR_RETURN(h5::Handle scalar, h5::CreateSpace({}));
    const std::string name(DTypeName(dtype));
    const char* cname = name.c_str();
    CAIRN_RETURN_IF_ERROR(h5::WriteAttribute(dataset, kDtypeAttr, str.id(), scalar.id(), &cname));
  }
  // A 1-D array even for 0-d (length 0): h5py reads it back as an array whose tuple is the shape.
  const std::array<hsize_t, 1> rank{global_shape.size()};
  CAIRN_ASSIGN_OR_RETURN(h5::Handle space, h5::CreateSpace(rank));
  const int64_t none = 0;
  const void* data = global_shape.empty() ? &none : global_shape.data();
  return h5::WriteAttribute(dataset, kGlobalShapeAttr, H5T_NATIVE_INT64, space.id(), data);
}

std::vector<hsize_t> ToHsize(const std::vector<int64_t>& v) {
  return std::vector<hsize_t>(v.begin(), v.end());
}

std::string DatasetPath(const std::vector<std::string>& segments) {
  std::string path;
  for (size_t i = 0; i < segments.size(); ++i) path += (i ? "/" : "") + segments[i];
  return path;
}

Status ValidateSegments(const std::vector<std::string>& segments) {
  if (segments.empty()) return InvalidArgumentError("no path segments");
  for (const std::string& s : segments) {
    if (s.empty() || s == "." || s.find('/') != std::string::npos) {
      return InvalidArgumentError("segment \"" + s +
                                  "\" cannot be an HDF5 link name (empty, \".\" or contains '/')");
    }
  }
  return OkStatus();
}

}  // namespace cairn::storage::hdf5
