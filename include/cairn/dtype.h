#pragma once
/// Element types, named as zarr v3 names them (`float32`, `bfloat16`, `complex64`, ...).

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "cairn/status.h"

namespace cairn {

/// Every element type cairn stores. Names and sizes follow the zarr v3 core data types.
enum class DType : uint8_t {
  kBool,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kFloat16,
  kBfloat16,
  kFloat32,
  kFloat64,
  kComplex64,
  kComplex128,
};

/// All dtypes, in declaration order (for tests and tables).
inline constexpr DType kAllDTypes[] = {
    DType::kBool,    DType::kInt8,     DType::kInt16,   DType::kInt32,     DType::kInt64,
    DType::kUint8,   DType::kUint16,   DType::kUint32,  DType::kUint64,    DType::kFloat16,
    DType::kBfloat16, DType::kFloat32, DType::kFloat64, DType::kComplex64, DType::kComplex128};

/// The zarr v3 name: "bool", "int8", ..., "bfloat16", "complex128".
std::string_view DTypeName(DType dtype);
/// Parses a zarr v3 name. InvalidArgument for an unknown name.
Result<DType> DTypeFromName(std::string_view name);
/// Bytes per element (bool is 1 byte).
size_t DTypeSize(DType dtype);
bool IsFloatingPoint(DType dtype);  ///< float16, bfloat16, float32, float64.
bool IsComplex(DType dtype);
bool IsSignedInteger(DType dtype);
bool IsUnsignedInteger(DType dtype);

/// Storage for 16-bit floats; cairn treats them as opaque bit patterns except in casts.
struct Float16 {
  uint16_t bits;
};
struct Bfloat16 {
  uint16_t bits;
};

/// The DType for a C++ element type (`DTypeOf<float>() == DType::kFloat32`).
template <typename T>
constexpr DType DTypeOf() {
  if constexpr (std::is_same_v<T, bool>) return DType::kBool;
  else if constexpr (std::is_same_v<T, int8_t>) return DType::kInt8;
  else if constexpr (std::is_same_v<T, int16_t>) return DType::kInt16;
  else if constexpr (std::is_same_v<T, int32_t>) return DType::kInt32;
  else if constexpr (std::is_same_v<T, int64_t>) return DType::kInt64;
  else if constexpr (std::is_same_v<T, uint8_t>) return DType::kUint8;
  else if constexpr (std::is_same_v<T, uint16_t>) return DType::kUint16;
  else if constexpr (std::is_same_v<T, uint32_t>) return DType::kUint32;
  else if constexpr (std::is_same_v<T, uint64_t>) return DType::kUint64;
  else if constexpr (std::is_same_v<T, Float16>) return DType::kFloat16;
  else if constexpr (std::is_same_v<T, Bfloat16>) return DType::kBfloat16;
  else if constexpr (std::is_same_v<T, float>) return DType::kFloat32;
  else if constexpr (std::is_same_v<T, double>) return DType::kFloat64;
  else static_assert(sizeof(T) == 0, "no cairn DType for this type");
}

}  // namespace cairn
