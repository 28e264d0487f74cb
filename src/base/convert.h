#pragma once
// Element-wise dtype casts (save-time StorageOptions.dtype, restore-time allow_cast).

#include <cstddef>
#include <cstdint>

#include "cairn/dtype.h"

namespace cairn::base {

/// True if every value of `from` is exactly representable in `to`.
bool IsExactCast(DType from, DType to);
/// Converts `n` elements. float->int truncates toward zero and saturates; NaN -> 0;
/// complex -> real drops the imaginary part; real -> complex sets it to 0.
void ConvertElements(DType from, const void* src, DType to, void* dst, size_t n);

float HalfToFloat(uint16_t bits);
uint16_t FloatToHalf(float f);  ///< round to nearest even
float Bfloat16ToFloat(uint16_t bits);
uint16_t FloatToBfloat16(float f);  ///< round to nearest even, NaN stays NaN

}  // namespace cairn::base
