#include "format/ocdbt/byte_writer.h"

#include <zstd.h>

#include <boost/endian/conversion.hpp>
#include <cstring>
#include <memory>

#include "format/ocdbt/byte_reader.h"

namespace cairn::ocdbt {
namespace {

template <typename T>
void AppendRaw(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out.append(buf, sizeof(T));
}

struct CctxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

}  // namespace

void ByteWriter::Varint(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

void ByteWriter::U32Be(uint32_t v) { AppendRaw(out_, boost::endian::native_to_big(v)); }
void ByteWriter::U32Le(uint32_t v) { AppendRaw(out_, boost::endian::native_to_little(v)); }
void ByteWriter::U64Le(uint64_t v) { AppendRaw(out_, boost::endian::native_to_little(v)); }

Result<std::string> ZstdCompress(std::string_view data, int level, bool checksum) {
  std::unique_ptr<ZSTD_CCtx, CctxDeleter> cctx(ZSTD_createCCtx());
  if (!cctx) return ResourceExhaustedError("ZSTD_createCCtx failed");
  size_t rc = ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  if (!ZSTD_isError(rc)) {
    rc = ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, checksum ? 1 : 0);
  }
  if (ZSTD_isError(rc)) {
    return InternalError(std::string("zstd level ") + std::to_string(level) + ": " +
                         ZSTD_getErrorName(rc));
  }
  std::string out(ZSTD_compressBound(data.size()), '\0');
  rc = ZSTD_compress2(cctx.get(), out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(rc)) return InternalError(std::string("zstd: ") + ZSTD_getErrorName(rc));
  out.resize(rc);
  return out;
}

Result<std::string> EncodeEnvelope(uint32_t magic, std::string_view body,
                                   const EnvelopeCompression& compression) {
  std::string compressed;
  if (compression.zstd) {
    CAIRN_ASSIGN_OR_RETURN(compressed, ZstdCompress(body, compression.level));
    body = compressed;
  }
  ByteWriter w;
  w.U32Be(magic);
  // version (0) and format are one byte each, so the total is known before writing them.
  const uint64_t length = 4 + 8 + 1 + 1 + body.size() + 4;
  w.U64Le(length);
  w.Varint(0);
  w.Varint(compression.zstd ? 1 : 0);
  w.Bytes(body);
  w.U32Le(Crc32c(w.data()));
  return w.Release();
}

}  // namespace cairn::ocdbt
