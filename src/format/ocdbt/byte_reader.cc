#include "format/ocdbt/byte_reader.h"

#include <boost/crc.hpp>
#include <boost/endian/conversion.hpp>
#include <cstring>

namespace cairn::ocdbt {

uint32_t Crc32c(std::string_view data) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data.data(), data.size());
  return crc.checksum();
}

std::string DescribeSource(const Source& source) {
  std::string s = source.name;
  if (source.file_offset != 0)
    s += " (object at file offset " + std::to_string(source.file_offset) + ")";
  return s;
}

Status SourceError(const Source& source, std::string_view what) {
  return DataLossError(DescribeSource(source) + ": " + std::string(what));
}

Status ByteReader::Error(std::string_view what) const {
  return SourceError(*source_, std::string(what) + " (at byte " + std::to_string(pos_) +
                                   (source_->decoded ? " of the object body)" : ")"));
}

Status ByteReader::Truncated(std::string_view field, uint64_t need) const {
  return Error("truncated " + std::string(field) + ": need " + std::to_string(need) + " bytes, " +
               std::to_string(remaining()) + " left");
}

Status ByteReader::Varint(uint64_t* out, std::string_view field) {
  uint64_t value = 0;
  for (int i = 0; i < 10; ++i) {
    if (pos_ >= data_.size()) return Truncated(std::string(field) + " (varint)", i + 1);
    const uint8_t b = static_cast<uint8_t>(data_[pos_]);
    if (i == 9 && b > 1) return Error("varint " + std::string(field) + " overflows 64 bits");
    value |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    ++pos_;
    if ((b & 0x80) == 0) {
      *out = value;
      return OkStatus();
    }
  }
  return Error("varint " + std::string(field) + " longer than 10 bytes");
}

Status ByteReader::VarintMax(uint64_t* out, uint64_t max, std::string_view field) {
  const size_t start = pos_;
  CAIRN_RETURN_IF_ERROR(Varint(out, field));
  if (*out > max) {
    pos_ = start;
    return Error(std::string(field) + " = " + std::to_string(*out) + " exceeds the maximum " +
                 std::to_string(max));
  }
  return OkStatus();
}

Status ByteReader::Byte(uint8_t* out, std::string_view field) {
  if (remaining() < 1) return Truncated(field, 1);
  *out = static_cast<uint8_t>(data_[pos_++]);
  return OkStatus();
}

Status ByteReader::U32Be(uint32_t* out, std::string_view field) {
  if (remaining() < 4) return Truncated(field, 4);
  std::memcpy(out, data_.data() + pos_, 4);
  boost::endian::big_to_native_inplace(*out);
  pos_ += 4;
  return OkStatus();
}

Status ByteReader::U32Le(uint32_t* out, std::string_view field) {
  if (remaining() < 4) return Truncated(field, 4);
  std::memcpy(out, data_.data() + pos_, 4);
  boost::endian::little_to_native_inplace(*out);
  pos_ += 4;
  return OkStatus();
}

Status ByteReader::U64Le(uint64_t* out, std::string_view field) {
  if (remaining() < 8) return Truncated(field, 8);
  std::memcpy(out, data_.data() + pos_, 8);
  boost::endian::little_to_native_inplace(*out);
  pos_ += 8;
  return OkStatus();
}

Status ByteReader::Bytes(uint64_t n, std::string_view* out, std::string_view field) {
  if (n > remaining()) return Truncated(field, n);
  *out = data_.substr(pos_, n);
  pos_ += n;
  return OkStatus();
}

Status ByteReader::ExpectEnd(std::string_view what) {
  if (at_end()) return OkStatus();
  return Error(std::to_string(remaining()) + " unexpected trailing bytes after " +
               std::string(what));
}

}  // namespace cairn::ocdbt
