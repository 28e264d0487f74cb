#include "format/ocdbt/envelope.h"

#include <zstd.h>

#include <memory>

namespace cairn::ocdbt {
namespace {

std::string Hex32(uint32_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "0x00000000";
  for (int i = 0; i < 8; ++i) s[9 - i] = kDigits[(v >> (4 * i)) & 0xf];
  return s;
}

struct DctxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// One zstd frame that must consume `in` exactly; output capped at `max_out`.
Status Decompress(std::string_view in, uint64_t max_out, const Source& source, std::string* out) {
  std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx(ZSTD_createDCtx());
  if (!dctx) return ResourceExhaustedError("ZSTD_createDCtx failed");
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  const size_t step = ZSTD_DStreamOutSize();
  out->clear();
  while (true) {
    const size_t old = out->size();
    const size_t grow = static_cast<size_t>(std::min<uint64_t>(step, max_out - old + 1));
    out->resize(old + grow);
    ZSTD_outBuffer output{out->data() + old, grow, 0};
    const size_t ret = ZSTD_decompressStream(dctx.get(), &output, &input);
    out->resize(old + output.pos);
    if (ZSTD_isError(ret)) {
      return SourceError(source, std::string("corrupt zstd body: ") + ZSTD_getErrorName(ret));
    }
    if (out->size() > max_out) {
      return SourceError(source,
                         "zstd body decodes to more than " + std::to_string(max_out) + " bytes");
    }
    if (ret == 0) break;  // frame complete
    if (input.pos == input.size && output.pos < output.size) {
      return SourceError(source, "truncated zstd body (frame incomplete)");
    }
  }
  if (input.pos != input.size) {
    return SourceError(
        source, std::to_string(input.size - input.pos) + " bytes after the zstd frame in the body");
  }
  return OkStatus();
}

}  // namespace

Result<std::string> DecodeEnvelope(std::string_view encoded, uint32_t magic, const Source& source,
                                   const DecodeOptions& options) {
  constexpr size_t kMin = 4 + 8 + 4;
  if (encoded.size() < kMin) {
    return SourceError(source, "object of " + std::to_string(encoded.size()) +
                                   " bytes is shorter than the minimum of 16");
  }
  ByteReader r(encoded.substr(0, encoded.size() - 4), source);
  uint32_t found_magic = 0;
  CAIRN_RETURN_IF_ERROR(r.U32Be(&found_magic, "magic"));
  if (found_magic != magic) {
    return SourceError(source,
                       "expected magic " + Hex32(magic) + " but found " + Hex32(found_magic));
  }
  uint64_t length = 0;
  CAIRN_RETURN_IF_ERROR(r.U64Le(&length, "length"));
  if (length != encoded.size()) {
    return SourceError(source, "length in header (" + std::to_string(length) +
                                   ") does not match the object size (" +
                                   std::to_string(encoded.size()) + ")");
  }
  // The CRC covers the header too, so check it before trusting the remaining header fields.
  uint32_t stored_crc = 0;
  ByteReader crc_reader(encoded.substr(encoded.size() - 4), source);
  CAIRN_RETURN_IF_ERROR(crc_reader.U32Le(&stored_crc, "crc32c"));
  const uint32_t actual_crc = Crc32c(encoded.substr(0, encoded.size() - 4));
  if (stored_crc != actual_crc) {
    return SourceError(source, "CRC-32C mismatch: stored " + Hex32(stored_crc) + ", computed " +
                                   Hex32(actual_crc));
  }
  uint64_t version = 0, format = 0;
  CAIRN_RETURN_IF_ERROR(r.Varint(&version, "version"));
  if (version != 0) {
    return r.Error("unsupported format version " + std::to_string(version) + " (maximum 0)");
  }
  CAIRN_RETURN_IF_ERROR(r.Varint(&format, "compression format"));
  std::string_view body;
  CAIRN_RETURN_IF_ERROR(r.Bytes(r.remaining(), &body, "body"));
  if (format == 0) {
    if (body.size() > options.max_decoded_bytes) {
      return SourceError(source, "body of " + std::to_string(body.size()) +
                                     " bytes exceeds the limit " +
                                     std::to_string(options.max_decoded_bytes));
    }
    return std::string(body);
  }
  if (format != 1) {
    return SourceError(
        source, "unsupported compression format " + std::to_string(format) + " (0 raw, 1 zstd)");
  }
  std::string out;
  CAIRN_RETURN_IF_ERROR(Decompress(body, options.max_decoded_bytes, source, &out));
  return out;
}

}  // namespace cairn::ocdbt
