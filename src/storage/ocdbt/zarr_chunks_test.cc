#include "storage/ocdbt/zarr_chunks.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <cstring>
#include <map>

#include "format/ocdbt/zarr_encode.h"

namespace cairn::storage {
namespace {

// A compressible float32 pattern: smooth values with a few noisy low bits.
std::vector<float> Pattern(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 977) * 0.5f + static_cast<float>(i % 3);
  return v;
}

// Every value the encoder gives, in the order the sink got them.
std::vector<std::pair<std::string, std::string>> Encode(const ocdbt::ZarrArrayMetadata& m,
                                                        const Box& piece, const void* data,
                                                        int threads) {
  ChunkEncoder encoder;
  encoder.set_threads(threads);
  std::vector<std::pair<std::string, std::string>> out;
  Status s = encoder.EncodePiece("a", m, piece, data,
                                 [&](std::string key, std::span<const std::string_view> parts) {
                                   std::string value;
                                   for (std::string_view p : parts) value.append(p);
                                   out.emplace_back(std::move(key), std::move(value));
                                   return OkStatus();
                                 });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// The raw bytes of a one-chunk shard: the zstd frame before the 20-byte shard index, decoded.
std::string Decode(const std::string& value, size_t raw_bytes) {
  EXPECT_GT(value.size(), 20u);
  std::string raw(raw_bytes, '\0');
  const size_t n = ZSTD_decompress(raw.data(), raw.size(), value.data(), value.size() - 20);
  EXPECT_FALSE(ZSTD_isError(n)) << ZSTD_getErrorName(n);
  EXPECT_EQ(n, raw_bytes);
  return raw;
}

TEST(ChunkEncoderTest, SmallChunksOnThreadsGiveTheSameValuesInTheSameOrder) {
  // 37 x 1000 float32 in chunks of 4 x 1000 (16 KB; the last one clipped), compressed, and a
  // piece that starts at a chunk boundary but not at the array's start.
  const std::vector<float> data = Pattern(33 * 1000);
  const ocdbt::ZarrArrayMetadata m = ocdbt::OrbaxZarrMetadata(DType::kFloat32, {37, 1000}, {4, 1000});
  const Box piece{{4, 0}, {33, 1000}};
  const auto one = Encode(m, piece, data.data(), 1);
  ASSERT_EQ(one.size(), 9u);
  for (int threads : {2, 3, 8}) EXPECT_EQ(Encode(m, piece, data.data(), threads), one) << threads;
}

TEST(ChunkEncoderTest, LargeChunksOnZstdThreadsDecodeToTheSameBytes) {
  // One 16 MiB chunk: compressed by zstd's workers (another valid frame, the same contents).
  const std::vector<float> data = Pattern(size_t{4} << 20);
  const ocdbt::ZarrArrayMetadata m =
      ocdbt::OrbaxZarrMetadata(DType::kFloat32, {4096, 1024}, {4096, 1024});
  const Box piece{{0, 0}, {4096, 1024}};
  const auto one = Encode(m, piece, data.data(), 1);
  const auto four = Encode(m, piece, data.data(), 4);
  ASSERT_EQ(one.size(), 1u);
  ASSERT_EQ(four.size(), 1u);
  EXPECT_EQ(four[0].first, one[0].first);
  const std::string raw(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  EXPECT_EQ(Decode(one[0].second, raw.size()), raw);
  EXPECT_EQ(Decode(four[0].second, raw.size()), raw);
  // Where libzstd has threads, the frame is zstd's multi-threaded one (it differs).
  ZSTD_CCtx* probe = ZSTD_createCCtx();
  const bool mt = !ZSTD_isError(ZSTD_CCtx_setParameter(probe, ZSTD_c_nbWorkers, 2));
  ZSTD_freeCCtx(probe);
  if (mt) EXPECT_NE(four[0].second, one[0].second);
  // Both compress (the pattern is smooth), the threaded frame about as well.
  EXPECT_LT(one[0].second.size(), raw.size() / 2);
  EXPECT_LT(four[0].second.size(), raw.size() / 2);
}

TEST(ChunkEncoderTest, UncompressedChunksIgnoreThreads) {
  const std::vector<float> data = Pattern(37 * 100);
  const ocdbt::ZarrArrayMetadata m =
      ocdbt::OrbaxZarrMetadata(DType::kFloat32, {37, 100}, {4, 100}, /*use_compression=*/false);
  const Box piece{{0, 0}, {37, 100}};
  EXPECT_EQ(Encode(m, piece, data.data(), 4), Encode(m, piece, data.data(), 1));
}

}  // namespace
}  // namespace cairn::storage
