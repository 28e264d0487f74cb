// Hand-made byte vectors for the OCDBT decoders: the spec's worked example (which TensorStore
// reads back, see testdata/make_testdata.py) and one malformed input per check.

#include <gtest/gtest.h>

#include "format/ocdbt/btree.h"
#include "format/ocdbt/envelope.h"
#include "format/ocdbt/manifest.h"
#include "format/ocdbt/test_util.h"
#include "format/ocdbt/version_tree.h"

namespace cairn::ocdbt {
namespace {

using testing::Hex;
using testing::kSpecFile;
using testing::SpecLeaf;
using testing::SpecManifest;
using testing::Le;
using testing::Varint;
using testing::Wrap;

const Source kSrc{"test/d/file", 100};

// A DataLoss naming the source.
void ExpectDataLoss(const Status& s, std::string_view fragment = "") {
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find("test/d/file"), std::string::npos) << s.message();
  if (!fragment.empty()) {
    EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
  }
}

TEST(OcdbtByteReaderTest, Crc32cKnownValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(OcdbtByteReaderTest, Varints) {
  const std::string max = Hex("ffffffffffffffffff01");
  ByteReader r(max, kSrc);
  uint64_t v = 0;
  ASSERT_TRUE(r.Varint(&v, "x").ok());
  EXPECT_EQ(v, UINT64_MAX);
  EXPECT_TRUE(r.at_end());
  const std::string overflow = Hex("ffffffffffffffffff02");
  ByteReader r2(overflow, kSrc);
  ExpectDataLoss(r2.Varint(&v, "x"), "overflows");
  const std::string eleven = Hex("8080808080808080808000");
  ByteReader r3(eleven, kSrc);
  ExpectDataLoss(r3.Varint(&v, "x"));
  const std::string truncated = Hex("8080");
  ByteReader r4(truncated, kSrc);
  ExpectDataLoss(r4.Varint(&v, "x"), "truncated");
  const std::string big = Varint(70000);
  ByteReader r5(big, kSrc);
  ExpectDataLoss(r5.VarintMax(&v, 65535, "key_suffix_length"), "exceeds the maximum 65535");
}


TEST(OcdbtSpecExampleTest, LeafDecodes) {
  const std::string leaf = SpecLeaf();
  ASSERT_EQ(leaf.size(), 82u);
  auto node = DecodeBtreeNode(leaf, kSrc);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(node->height, 0);
  ASSERT_EQ(node->files.size(), 1u);
  EXPECT_EQ(node->files[0].base_path, "");
  EXPECT_EQ(node->files[0].relative_path, kSpecFile);
  ASSERT_EQ(node->leaf_entries.size(), 2u);
  EXPECT_EQ(node->leaf_entries[0].key, "x/c/0");
  const auto& ref = std::get<IndirectRef>(node->leaf_entries[0].value);
  EXPECT_EQ(ref.file, 0u);
  EXPECT_EQ(ref.offset, 0u);
  EXPECT_EQ(ref.length, 16u);
  EXPECT_EQ(node->leaf_entries[1].key, "x/zarr.json");
  EXPECT_EQ(std::get<std::string>(node->leaf_entries[1].value), "{}");
}

TEST(OcdbtSpecExampleTest, ManifestDecodes) {
  const std::string bytes = SpecManifest();
  ASSERT_EQ(bytes.size(), 98u);
  auto m = DecodeManifest(bytes, kSrc);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->config.uuid[15], 15);
  EXPECT_EQ(m->config.manifest_kind, ManifestKind::kSingle);
  EXPECT_EQ(m->config.max_inline_value_bytes, 1024u);
  EXPECT_EQ(m->config.max_decoded_node_bytes, 100000000u);
  EXPECT_EQ(m->config.version_tree_arity_log2, 4);
  EXPECT_FALSE(m->config.zstd);
  ASSERT_EQ(m->versions.size(), 1u);
  const auto& g = m->versions[0];
  EXPECT_EQ(g.generation_number, 1u);
  EXPECT_EQ(g.root.offset, 16u);
  EXPECT_EQ(g.root.length, 82u);
  EXPECT_EQ(g.stats, (BtreeStats{2, 82, 16}));
  EXPECT_EQ(g.commit_time_ns, 1700000000000000000ull);
  EXPECT_TRUE(m->version_nodes.empty());
}

TEST(OcdbtSpecExampleTest, EveryTruncationAndBitFlipIsDataLoss) {
  for (const std::string& good : {SpecLeaf(), SpecManifest()}) {
    for (size_t n = 0; n < good.size(); ++n) {
      const std::string bad = good.substr(0, n);
      Status s = good == SpecLeaf() ? DecodeBtreeNode(bad, kSrc).status()
                                    : DecodeManifest(bad, kSrc).status();
      ExpectDataLoss(s);
    }
    for (size_t i = 0; i < good.size(); ++i) {
      std::string bad = good;
      bad[i] ^= 0x10;
      Status s = good == SpecLeaf() ? DecodeBtreeNode(bad, kSrc).status()
                                    : DecodeManifest(bad, kSrc).status();
      ExpectDataLoss(s);
    }
  }
}

TEST(OcdbtEnvelopeTest, HeaderChecks) {
  const std::string body = "abc";
  EXPECT_EQ(*DecodeEnvelope(Wrap(kBtreeNodeMagic, body), kBtreeNodeMagic, kSrc), "abc");
  EXPECT_EQ(*DecodeEnvelope(Wrap(kBtreeNodeMagic, body, 1), kBtreeNodeMagic, kSrc), "abc");
  ExpectDataLoss(DecodeEnvelope(Wrap(kManifestMagic, body), kBtreeNodeMagic, kSrc).status(),
                 "expected magic 0x0cdb20de but found 0x0cdb3a2a");
  ExpectDataLoss(DecodeEnvelope(Wrap(kBtreeNodeMagic, body, 0, 1), kBtreeNodeMagic, kSrc).status(),
                 "unsupported format version 1");
  ExpectDataLoss(DecodeEnvelope(Wrap(kBtreeNodeMagic, body, 2), kBtreeNodeMagic, kSrc).status(),
                 "unsupported compression format 2");
  std::string wrong_length = Wrap(kBtreeNodeMagic, body);
  wrong_length += "x";
  ExpectDataLoss(DecodeEnvelope(wrong_length, kBtreeNodeMagic, kSrc).status(), "length in header");
  std::string wrong_crc = Wrap(kBtreeNodeMagic, body);
  wrong_crc.back() ^= 1;
  ExpectDataLoss(DecodeEnvelope(wrong_crc, kBtreeNodeMagic, kSrc).status(), "CRC-32C mismatch");
  ExpectDataLoss(DecodeEnvelope("short", kBtreeNodeMagic, kSrc).status(), "shorter than");
}

TEST(OcdbtEnvelopeTest, ZstdChecks) {
  // Garbage after the zstd frame.
  std::string frame(ZSTD_compressBound(3), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), "abc", 3, 3));
  std::string enc =
      Hex("0cdb20de") + Le(4 + 8 + 2 + frame.size() + 1 + 4, 8) + Hex("0001") + frame + "!";
  enc += Le(Crc32c(enc), 4);
  ExpectDataLoss(DecodeEnvelope(enc, kBtreeNodeMagic, kSrc).status(), "after the zstd frame");
  // Truncated frame.
  std::string cut = Hex("0cdb20de") + Le(4 + 8 + 2 + frame.size() - 2 + 4, 8) + Hex("0001") +
                    frame.substr(0, frame.size() - 2);
  cut += Le(Crc32c(cut), 4);
  ExpectDataLoss(DecodeEnvelope(cut, kBtreeNodeMagic, kSrc).status(), "zstd");
  // Decompression bomb: 1 MB of zeros against a 64 KiB limit.
  const std::string zeros(1 << 20, '\0');
  ExpectDataLoss(DecodeEnvelope(Wrap(kBtreeNodeMagic, zeros, 1), kBtreeNodeMagic, kSrc,
                                DecodeOptions{.max_decoded_bytes = 65536})
                     .status(),
                 "more than 65536 bytes");
  EXPECT_TRUE(DecodeEnvelope(Wrap(kBtreeNodeMagic, zeros, 1), kBtreeNodeMagic, kSrc).ok());
}

// A B+tree leaf body: height 0, table, entries. Keys are given whole (prefix 0).
std::string LeafBody(const std::string& table, const std::vector<std::string>& keys,
                     const std::string& tail) {
  std::string b = std::string(1, '\0') + table + Varint(keys.size());
  for (size_t i = 1; i < keys.size(); ++i) b += Varint(0);
  for (const auto& k : keys) b += Varint(k.size());
  for (const auto& k : keys) b += k;
  return b + tail;
}

const std::string kOneFile = Hex("01") + Varint(4) + Varint(0) + "d/ab";

TEST(OcdbtBtreeTest, LeafValidation) {
  auto decode = [](const std::string& body) {
    return DecodeBtreeNode(Wrap(kBtreeNodeMagic, body), kSrc).status();
  };
  // Good: inline "v" and indirect (file 0, offset 7, length 3).
  const std::string good = LeafBody(
      kOneFile, {"a", "b"}, Varint(1) + Varint(3) + Hex("0001") + Varint(0) + Varint(7) + "v");
  ASSERT_TRUE(decode(good).ok()) << decode(good).ToString();
  auto node = DecodeBtreeNode(Wrap(kBtreeNodeMagic, good, 1), kSrc, "ocdbt.process_3/");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(node->files[0].base_path, "ocdbt.process_3/");
  EXPECT_EQ(node->files[0].relative_path, "d/ab");

  ExpectDataLoss(decode(std::string(1, '\0') + kOneFile + Varint(0)), "num_entries 0");
  ExpectDataLoss(decode(std::string(1, '\0') + kOneFile + Varint(1048577)), "num_entries");
  ExpectDataLoss(decode(std::string(1, '\0') + kOneFile + Varint(500)), "bytes left");
  ExpectDataLoss(decode(LeafBody(kOneFile, {"b", "a"}, Varint(0) + Varint(0) + Hex("0000"))),
                 "not strictly increasing");
  ExpectDataLoss(decode(LeafBody(kOneFile, {"a", "a"}, Varint(0) + Varint(0) + Hex("0000"))),
                 "not strictly increasing");
  ExpectDataLoss(decode(LeafBody(kOneFile, {"a"}, Varint(0) + Hex("02"))), "value_kind 2");
  ExpectDataLoss(decode(LeafBody(kOneFile, {"a"}, Varint(5) + Hex("00") + "abc")),
                 "truncated inline value");
  ExpectDataLoss(decode(LeafBody(kOneFile, {"a"}, Varint(2000000) + Hex("00"))),
                 "inline value length");
  ExpectDataLoss(decode(LeafBody(kOneFile, {"a"}, Varint(3) + Hex("01") + Varint(1) + Varint(0))),
                 "data file id 1 outside the table of 1");
  ExpectDataLoss(
      decode(LeafBody(kOneFile, {"a"}, Varint(3) + Hex("01") + Varint(0) + Varint(UINT64_MAX - 1))),
      "overflows");
  ExpectDataLoss(decode(good + "x"), "trailing");
  // Prefix length beyond the previous key.
  std::string bad_prefix = std::string(1, '\0') + kOneFile + Varint(2) + Varint(5) + Varint(1) +
                           Varint(1) + "ab" + Varint(0) + Varint(0) + Hex("0000");
  ExpectDataLoss(decode(bad_prefix), "exceeds the previous key's length 1");
  // Prefix compression that would materialize more key bytes than allowed.
  std::string big = std::string(1, '\0') + kOneFile + Varint(3) + Varint(60000) + Varint(60000) +
                    Varint(60000) + Varint(1) + Varint(1);
  ExpectDataLoss(
      DecodeBtreeNode(Wrap(kBtreeNodeMagic, big), kSrc, "", DecodeOptions{.max_key_bytes = 100000})
          .status(),
      "keys of the node total more than");
}

TEST(OcdbtBtreeTest, InteriorPrefixes) {
  // Two children: "k/a" (subtree prefix "k/") and "k/b" sharing prefix 2 with it.
  std::string body = Hex("01") + kOneFile + Varint(2) + Varint(2) + Varint(3) + Varint(1) +
                     Varint(2) + Varint(0) + "k/a" + "b" + Varint(0) + Varint(0) + Varint(1) +
                     Varint(1000) + Varint(10) + Varint(20) + Varint(5) + Varint(6) + Varint(7) +
                     Varint(8) + Varint(9) + Varint(10);
  auto node = DecodeBtreeNode(Wrap(kBtreeNodeMagic, body), kSrc);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  ASSERT_EQ(node->interior_entries.size(), 2u);
  EXPECT_EQ(node->interior_entries[0].key, "k/a");
  EXPECT_EQ(node->interior_entries[1].key, "k/b");
  EXPECT_EQ(node->interior_entries[0].subtree_common_prefix_length, 2u);
  EXPECT_EQ(node->interior_entries[1].child.offset, 1000u);
  EXPECT_EQ(node->interior_entries[1].child.length, 20u);
  EXPECT_EQ(node->interior_entries[0].stats, (BtreeStats{5, 7, 9}));
  // Subtree prefix longer than the key.
  std::string bad = Hex("01") + kOneFile + Varint(1) + Varint(3) + Varint(4) + "k/a";
  ExpectDataLoss(DecodeBtreeNode(Wrap(kBtreeNodeMagic, bad), kSrc).status(),
                 "subtree common prefix length 4 exceeds the key length 3");
}

TEST(OcdbtDataFileTableTest, PrefixesAndErrors) {
  // ("", "d/ab"), ("", "d/ac"), ("p/", "d/x"): prefix 3 then 0; base lengths 0, 0, 2.
  std::string table = Varint(3) + Varint(3) + Varint(0) + Varint(4) + Varint(1) + Varint(5) +
                      Varint(0) + Varint(0) + Varint(2) + "d/ab" + "c" + "p/d/x";
  ByteReader r(table, kSrc);
  std::vector<DataFileId> files;
  ASSERT_TRUE(ReadDataFileTable(r, "t/", &files).ok());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[1], (DataFileId{"t/", "d/ac"}));
  EXPECT_EQ(files[2], (DataFileId{"t/p/", "d/x"}));
  EXPECT_TRUE(r.at_end());

  std::string bad_base = Varint(1) + Varint(2) + Varint(3) + "ab";
  ByteReader r2(bad_base, kSrc);
  ExpectDataLoss(ReadDataFileTable(r2, "", &files), "base_path_length 3 exceeds");
  std::string bad_prefix =
      Varint(2) + Varint(9) + Varint(2) + Varint(1) + Varint(0) + Varint(0) + "abc";
  ByteReader r3(bad_prefix, kSrc);
  ExpectDataLoss(ReadDataFileTable(r3, "", &files), "exceeds the previous path's length");
  // A prefix reaching past base paths of different lengths.
  std::string cross =
      Varint(2) + Varint(2) + Varint(2) + Varint(1) + Varint(1) + Varint(2) + "abcd" + "e";
  ByteReader r4(cross, kSrc);
  ExpectDataLoss(ReadDataFileTable(r4, "", &files), "different lengths");
  std::string huge = Varint(1u << 30);
  ByteReader r5(huge, kSrc);
  ExpectDataLoss(ReadDataFileTable(r5, "", &files), "claims");
}

// Manifest body: config (raw), table with one file, given leaf entries, no version nodes.
std::string ManifestBody(uint8_t arity, const std::string& versions,
                         const std::string& nodes = Varint(0)) {
  return std::string(16, 'u') + Hex("00") + Varint(100) + Varint(8388608) +
         std::string(1, static_cast<char>(arity)) + Varint(0) + kOneFile + versions + nodes;
}
// n generations g..g+n-1, each with an empty root except as given.
std::string Generations(std::vector<uint64_t> gens, uint8_t height = 0,
                        uint64_t offset = UINT64_MAX, uint64_t length = UINT64_MAX) {
  std::string s = Varint(gens.size());
  for (auto g : gens) s += Varint(g);
  for (size_t i = 0; i < gens.size(); ++i) s.push_back(static_cast<char>(height));
  for (size_t i = 0; i < gens.size(); ++i) s += Varint(0);
  for (size_t i = 0; i < gens.size(); ++i) s += Varint(offset);
  for (size_t i = 0; i < gens.size(); ++i) s += Varint(length);
  for (size_t i = 0; i < 3 * gens.size(); ++i) s += Varint(0);
  for (size_t i = 0; i < gens.size(); ++i) s += Le(1000 + i, 8);
  return s;
}

TEST(OcdbtManifestTest, VersionValidation) {
  auto decode = [](const std::string& body) {
    return DecodeManifest(Wrap(kManifestMagic, body), kSrc).status();
  };
  EXPECT_TRUE(decode(ManifestBody(4, Generations({1, 2, 3}))).ok());
  EXPECT_TRUE(decode(ManifestBody(2, Generations({17, 18, 19, 20}))).ok());
  ExpectDataLoss(decode(ManifestBody(0, Generations({1}))), "version_tree_arity_log2 0");
  ExpectDataLoss(decode(ManifestBody(17, Generations({1}))), "version_tree_arity_log2 17");
  ExpectDataLoss(decode(ManifestBody(4, Generations({}))), "num_entries 0");
  ExpectDataLoss(decode(ManifestBody(1, Generations({1, 2, 3}))), "num_entries 3");
  ExpectDataLoss(decode(ManifestBody(4, Generations({0}))), "generation_number is 0");
  ExpectDataLoss(decode(ManifestBody(4, Generations({2, 2}))), "not above the previous");
  ExpectDataLoss(decode(ManifestBody(2, Generations({4, 5}))), "exceed one leaf's range");
  ExpectDataLoss(decode(ManifestBody(4, Generations({1}, 1))), "non-zero root height");
  ExpectDataLoss(decode(ManifestBody(4, Generations({1}, 0, 5, UINT64_MAX))), "overflows");
  // Config: manifest kind 2, compression 2, zstd level out of range.
  std::string kind2 = ManifestBody(4, Generations({1}));
  kind2[16] = 2;
  ExpectDataLoss(decode(kind2), "manifest_kind 2");
  std::string numbered =
      std::string(16, 'u') + Hex("01") + Varint(100) + Varint(1) + Hex("04") + Varint(1) + Le(3, 4);
  auto m = DecodeManifest(Wrap(kManifestMagic, numbered), kSrc);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->config_only());
  EXPECT_TRUE(m->config.zstd);
  EXPECT_EQ(m->config.zstd_level, 3);
  std::string bad_level = numbered.substr(0, numbered.size() - 4) + Le(99, 4);
  ExpectDataLoss(decode(bad_level), "zstd level 99");
}

TEST(OcdbtManifestTest, VersionNodeReferences) {
  // Arity 2: generation 21 inline; nodes (gen 16, height 2) and (gen 20, height 1), as
  // TensorStore wrote in testdata/raw_multi.
  auto nodes = [](std::vector<std::pair<uint64_t, uint8_t>> refs) {
    std::string s = Varint(refs.size());
    for (auto& r : refs) s += Varint(r.first);
    for (size_t i = 0; i < refs.size(); ++i) s += Varint(0);
    for (size_t i = 0; i < refs.size(); ++i) s += Varint(10);
    for (size_t i = 0; i < refs.size(); ++i) s += Varint(73);
    for (size_t i = 0; i < refs.size(); ++i) s += Varint(4);
    for (size_t i = 0; i < refs.size(); ++i) s += Le(5, 8);
    for (auto& r : refs) s.push_back(static_cast<char>(r.second));
    return s;
  };
  auto decode = [](const std::string& body) {
    return DecodeManifest(Wrap(kManifestMagic, body), kSrc);
  };
  auto ok = decode(ManifestBody(2, Generations({21}), nodes({{16, 2}, {20, 1}})));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->version_nodes[1].height, 1);
  EXPECT_EQ(ok->version_nodes[1].num_generations, 4u);
  ExpectDataLoss(decode(ManifestBody(2, Generations({21}), nodes({{20, 1}, {16, 2}}))).status(),
                 "not above the previous");
  ExpectDataLoss(decode(ManifestBody(2, Generations({21}), nodes({{12, 2}, {16, 1}}))).status(),
                 "outside [17, 20] for height 1");
  ExpectDataLoss(decode(ManifestBody(2, Generations({21}), nodes({{16, 2}, {20, 0}}))).status(),
                 "entry_height 0");
  ExpectDataLoss(decode(ManifestBody(2, Generations({3}), nodes({{4, 1}}))).status(),
                 "unexpected version node");
}

TEST(OcdbtVersionTreeTest, NodeChecks) {
  auto table_and = [](std::string rest) { return kOneFile + rest; };
  // Leaf node, arity 2, generations 1..4.
  std::string leaf = Hex("0200") + table_and(Generations({1, 2, 3, 4}));
  auto node = DecodeVersionTreeNode(Wrap(kVersionTreeNodeMagic, leaf, 1), kSrc, "base/");
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(node->arity_log2, 2);
  EXPECT_EQ(node->leaf_entries.size(), 4u);
  EXPECT_EQ(node->files[0].base_path, "base/");
  // Interior node of height 1: children ending at 4 and 8 (multiples of 4).
  auto interior = [&](std::vector<uint64_t> gens, uint8_t height = 1) {
    std::string s =
        Hex("02") + std::string(1, static_cast<char>(height)) + kOneFile + Varint(gens.size());
    for (auto g : gens) s += Varint(g);
    for (size_t i = 0; i < gens.size(); ++i) s += Varint(0);
    for (size_t i = 0; i < gens.size(); ++i) s += Varint(1);
    for (size_t i = 0; i < gens.size(); ++i) s += Varint(2);
    for (size_t i = 0; i < gens.size(); ++i) s += Varint(4);
    for (size_t i = 0; i < gens.size(); ++i) s += Le(7, 8);
    return Wrap(kVersionTreeNodeMagic, s);
  };
  auto in = DecodeVersionTreeNode(interior({4, 8}), kSrc);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(in->interior_entries[1].height, 0);
  ExpectDataLoss(DecodeVersionTreeNode(interior({4, 6}), kSrc).status(), "not a multiple of 4");
  ExpectDataLoss(DecodeVersionTreeNode(interior({4, 20}), kSrc).status(), "cannot share one node");
  ExpectDataLoss(DecodeVersionTreeNode(interior({4}, 40), kSrc).status(), "height 40 exceeds");
  ExpectDataLoss(DecodeVersionTreeNode(Wrap(kBtreeNodeMagic, leaf), kSrc).status(), "magic");
}

}  // namespace
}  // namespace cairn::ocdbt
