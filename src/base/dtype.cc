#include "cairn/dtype.h"

#include <string>

namespace cairn {
namespace {
struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t size;
};
constexpr DTypeInfo kInfo[] = {
    {DType::kBool, "bool", 1},          {DType::kInt8, "int8", 1},
    {DType::kInt16, "int16", 2},        {DType::kInt32, "int32", 4},
    {DType::kInt64, "int64", 8},        {DType::kUint8, "uint8", 1},
    {DType::kUint16, "uint16", 2},      {DType::kUint32, "uint32", 4},
    {DType::kUint64, "uint64", 8},      {DType::kFloat16, "float16", 2},
    {DType::kBfloat16, "bfloat16", 2},  {DType::kFloat32, "float32", 4},
    {DType::kFloat64, "float64", 8},    {DType::kComplex64, "complex64", 8},
    {DType::kComplex128, "complex128", 16},
};
}  // namespace

std::string_view DTypeName(DType dtype) { return kInfo[static_cast<int>(dtype)].name; }
size_t DTypeSize(DType dtype) { return kInfo[static_cast<int>(dtype)].size; }

Result<DType> DTypeFromName(std::string_view name) {
  for (const auto& info : kInfo) {
    if (info.name == name) return info.dtype;
  }
  return InvalidArgumentError("unknown dtype '" + std::string(name) +
                              "' (expected a zarr v3 name such as float32, bfloat16, int64)");
}

bool IsFloatingPoint(DType d) {
  return d == DType::kFloat16 || d == DType::kBfloat16 || d == DType::kFloat32 ||
         d == DType::kFloat64;
}
bool IsComplex(DType d) { return d == DType::kComplex64 || d == DType::kComplex128; }
bool IsSignedInteger(DType d) {
  return d == DType::kInt8 || d == DType::kInt16 || d == DType::kInt32 || d == DType::kInt64;
}
bool IsUnsignedInteger(DType d) {
  return d == DType::kUint8 || d == DType::kUint16 || d == DType::kUint32 || d == DType::kUint64;
}

}  // namespace cairn
