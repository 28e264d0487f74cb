#include "base/convert.h"

#include <bit>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <type_traits>

namespace cairn::base {

float HalfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: value = man * 2^-24
      float f = std::ldexp(static_cast<float>(man), -24);
      bits = std::bit_cast<uint32_t>(f) | sign;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t FloatToHalf(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // inf or nan
    return sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0);
  }
  if (absx >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: overflow to inf
  if (absx < 0x38800000u) {                          // below the smallest normal half
    // value * 2^24 rounded to nearest even gives the subnormal mantissa.
    float v = std::bit_cast<float>(absx) * 16777216.0f;
    return sign | static_cast<uint16_t>(std::nearbyint(v));
  }
  uint32_t mant = absx & 0x7fffffu;
  uint32_t exp = (absx >> 23) - 112;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

float Bfloat16ToFloat(uint16_t bits) { return std::bit_cast<float>(uint32_t{bits} << 16); }

uint16_t FloatToBfloat16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

namespace {

// Value categories used for exactness: (kind, digits) where digits is the number of value bits
// representable exactly (mantissa+1 for floats, value bits for integers).
struct Cat {
  enum Kind { kBool, kSigned, kUnsigned, kFloat, kComplex } kind;
  int bits;       // integer value bits (excluding sign) or float mantissa precision
  int max_exp;    // floats: max exponent (for range); integers: unused
};

Cat CategoryOf(DType d) {
  switch (d) {
    case DType::kBool: return {Cat::kBool, 1, 0};
    case DType::kInt8: return {Cat::kSigned, 7, 0};
    case DType::kInt16: return {Cat::kSigned, 15, 0};
    case DType::kInt32: return {Cat::kSigned, 31, 0};
    case DType::kInt64: return {Cat::kSigned, 63, 0};
    case DType::kUint8: return {Cat::kUnsigned, 8, 0};
    case DType::kUint16: return {Cat::kUnsigned, 16, 0};
    case DType::kUint32: return {Cat::kUnsigned, 32, 0};
    case DType::kUint64: return {Cat::kUnsigned, 64, 0};
    case DType::kFloat16: return {Cat::kFloat, 11, 15};
    case DType::kBfloat16: return {Cat::kFloat, 8, 127};
    case DType::kFloat32: return {Cat::kFloat, 24, 127};
    case DType::kFloat64: return {Cat::kFloat, 53, 1023};
    case DType::kComplex64: return {Cat::kComplex, 24, 127};
    case DType::kComplex128: return {Cat::kComplex, 53, 1023};
  }
  return {Cat::kBool, 0, 0};
}

}  // namespace

bool IsExactCast(DType from, DType to) {
  if (from == to) return true;
  Cat f = CategoryOf(from), t = CategoryOf(to);
  if (f.kind == Cat::kBool) return true;  // 0/1 fits everywhere
  if (t.kind == Cat::kBool) return false;
  switch (f.kind) {
    case Cat::kSigned:
      if (t.kind == Cat::kSigned) return t.bits >= f.bits;
      if (t.kind == Cat::kUnsigned) return false;
      return t.bits >= f.bits;  // float/complex: integer fits in the mantissa
    case Cat::kUnsigned:
      if (t.kind == Cat::kSigned) return t.bits >= f.bits;
      if (t.kind == Cat::kUnsigned) return t.bits >= f.bits;
      return t.bits >= f.bits;
    case Cat::kFloat:
      if (t.kind == Cat::kFloat || t.kind == Cat::kComplex) {
        return t.bits >= f.bits && t.max_exp >= f.max_exp;
      }
      return false;
    case Cat::kComplex:
      return t.kind == Cat::kComplex && t.bits >= f.bits;
    default:
      return false;
  }
}

namespace {

// Every element goes through one of three carriers: int64/uint64 for integers (exact), double
// for reals (exact for every float type), complex<double> for complex.
struct Carrier {
  bool is_int = false, is_unsigned = false, is_complex = false;
  int64_t i = 0;
  uint64_t u = 0;
  double re = 0, im = 0;
};

Carrier Load(DType d, const unsigned char* p) {
  Carrier c;
  auto get = [p](auto v) {
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  switch (d) {
    case DType::kBool: c.is_int = true; c.i = get(uint8_t{}) != 0; break;
    case DType::kInt8: c.is_int = true; c.i = get(int8_t{}); break;
    case DType::kInt16: c.is_int = true; c.i = get(int16_t{}); break;
    case DType::kInt32: c.is_int = true; c.i = get(int32_t{}); break;
    case DType::kInt64: c.is_int = true; c.i = get(int64_t{}); break;
    case DType::kUint8: c.is_int = c.is_unsigned = true; c.u = get(uint8_t{}); break;
    case DType::kUint16: c.is_int = c.is_unsigned = true; c.u = get(uint16_t{}); break;
    case DType::kUint32: c.is_int = c.is_unsigned = true; c.u = get(uint32_t{}); break;
    case DType::kUint64: c.is_int = c.is_unsigned = true; c.u = get(uint64_t{}); break;
    case DType::kFloat16: c.re = HalfToFloat(get(uint16_t{})); break;
    case DType::kBfloat16: c.re = Bfloat16ToFloat(get(uint16_t{})); break;
    case DType::kFloat32: c.re = get(float{}); break;
    case DType::kFloat64: c.re = get(double{}); break;
    case DType::kComplex64: {
      float v[2];
      std::memcpy(v, p, 8);
      c.is_complex = true, c.re = v[0], c.im = v[1];
      break;
    }
    case DType::kComplex128: {
      double v[2];
      std::memcpy(v, p, 16);
      c.is_complex = true, c.re = v[0], c.im = v[1];
      break;
    }
  }
  return c;
}

template <typename T>
T ToInt(const Carrier& c) {
  if (c.is_int) {
    if (c.is_unsigned) return c.u > static_cast<uint64_t>(std::numeric_limits<T>::max())
                                  ? std::numeric_limits<T>::max() : static_cast<T>(c.u);
    if constexpr (std::is_unsigned_v<T>) {
      if (c.i < 0) return 0;
      return static_cast<uint64_t>(c.i) > std::numeric_limits<T>::max()
                 ? std::numeric_limits<T>::max() : static_cast<T>(c.i);
    } else {
      if (c.i < std::numeric_limits<T>::min()) return std::numeric_limits<T>::min();
      if (c.i > std::numeric_limits<T>::max()) return std::numeric_limits<T>::max();
      return static_cast<T>(c.i);
    }
  }
  double v = c.re;
  if (std::isnan(v)) return 0;
  v = std::trunc(v);
  if (v <= static_cast<double>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

double ToReal(const Carrier& c) {
  if (c.is_int) return c.is_unsigned ? static_cast<double>(c.u) : static_cast<double>(c.i);
  return c.re;
}

void Store(DType d, const Carrier& c, unsigned char* p) {
  auto put = [p](auto v) { std::memcpy(p, &v, sizeof(v)); };
  switch (d) {
    case DType::kBool:
      put(static_cast<uint8_t>(c.is_int ? (c.is_unsigned ? c.u != 0 : c.i != 0)
                                        : (c.re != 0 || c.im != 0)));
      break;
    case DType::kInt8: put(ToInt<int8_t>(c)); break;
    case DType::kInt16: put(ToInt<int16_t>(c)); break;
    case DType::kInt32: put(ToInt<int32_t>(c)); break;
    case DType::kInt64: put(ToInt<int64_t>(c)); break;
    case DType::kUint8: put(ToInt<uint8_t>(c)); break;
    case DType::kUint16: put(ToInt<uint16_t>(c)); break;
    case DType::kUint32: put(ToInt<uint32_t>(c)); break;
    case DType::kUint64: put(ToInt<uint64_t>(c)); break;
    case DType::kFloat16: put(FloatToHalf(static_cast<float>(ToReal(c)))); break;
    case DType::kBfloat16: put(FloatToBfloat16(static_cast<float>(ToReal(c)))); break;
    case DType::kFloat32: put(static_cast<float>(ToReal(c))); break;
    case DType::kFloat64: put(ToReal(c)); break;
    case DType::kComplex64: {
      float v[2] = {static_cast<float>(ToReal(c)), static_cast<float>(c.im)};
      std::memcpy(p, v, 8);
      break;
    }
    case DType::kComplex128: {
      double v[2] = {ToReal(c), c.im};
      std::memcpy(p, v, 16);
      break;
    }
  }
}

}  // namespace

void ConvertElements(DType from, const void* src, DType to, void* dst, size_t n) {
  const size_t fs = DTypeSize(from), ts = DTypeSize(to);
  if (from == to) {
    std::memcpy(dst, src, n * fs);
    return;
  }
  const auto* s = static_cast<const unsigned char*>(src);
  auto* t = static_cast<unsigned char*>(dst);
  for (size_t i = 0; i < n; ++i) Store(to, Load(from, s + i * fs), t + i * ts);
}

}  // namespace cairn::base
