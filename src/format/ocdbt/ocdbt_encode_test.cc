// The OCDBT encoders and writer: the spec's worked example byte for byte, every manifest and
// node TensorStore wrote (testdata/seeds) decoded and re-encoded to the same bytes (raw) or the
// same body (zstd), TensorStore's split rule, and databases written by WriteDatabase read back
// with ReadView. TensorStore itself reads WriteDatabase's output in ocdbt_tensorstore_interop.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "base/fs.h"
#include "format/ocdbt/btree_builder.h"
#include "format/ocdbt/encode.h"
#include "format/ocdbt/read_view.h"
#include "format/ocdbt/test_util.h"
#include "format/ocdbt/writer.h"

namespace cairn::ocdbt {
namespace {

namespace fs = std::filesystem;
using testing::Hex;
using testing::kSpecFile;
using testing::SpecLeaf;
using testing::SpecManifest;
using testing::Le;
using testing::ToHex;

fs::path TestData() {
  const char* dir = std::getenv("OCDBT_TESTDATA");
  return dir ? fs::path(dir) : fs::path("src/format/ocdbt/testdata");
}

// A fresh directory under the test's temporary directory.
fs::path TempDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  fs::path dir = fs::path(tmp ? tmp : fs::temp_directory_path().string()) /
                 ("cairn_ocdbt_encode_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(OcdbtByteWriterTest, VarintsAreMinimalLeb128) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{300},
                     uint64_t{1} << 35, UINT64_MAX - 1, UINT64_MAX}) {
    ByteWriter w;
    w.Varint(v);
    EXPECT_EQ(w.data(), testing::Varint(v)) << v;
    ByteReader r(w.data(), Source{"varint"});
    uint64_t back = 0;
    ASSERT_TRUE(r.Varint(&back, "v").ok());
    EXPECT_EQ(back, v);
    EXPECT_TRUE(r.at_end());
  }
  ByteWriter w;
  w.Varint(UINT64_MAX);
  EXPECT_EQ(ToHex(w.data()), "ffffffffffffffffff01");
}

TEST(OcdbtEnvelopeEncodeTest, RawAndZstdMatchTheHandMadeWrapperAndDecode) {
  const std::string body = "some body bytes, some body bytes, some body bytes";
  auto raw = EncodeEnvelope(kBtreeNodeMagic, body, {});
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(*raw, testing::Wrap(kBtreeNodeMagic, body, 0));
  auto z = EncodeEnvelope(kManifestMagic, body, {.zstd = true, .level = 0});
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(static_cast<uint8_t>((*z)[13]), 1);
  auto back = DecodeEnvelope(*z, kManifestMagic, Source{"z"});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, body);
}

Config SpecConfig() {
  Config c;
  for (int i = 0; i < 16; ++i) c.uuid[i] = static_cast<uint8_t>(i);
  c.max_inline_value_bytes = 1024;
  c.max_decoded_node_bytes = 100000000;
  c.zstd = false;
  return c;
}

TEST(OcdbtSpecExampleEncodeTest, LeafAndManifestAreByteForByte) {
  // The node encoder, given the decoded structure.
  BtreeNode node;
  node.files = {{"", kSpecFile}};
  node.leaf_entries = {{"x/c/0", IndirectRef{0, 0, 16}}, {"x/zarr.json", std::string("{}")}};
  auto leaf = EncodeBtreeNode(node, {});
  ASSERT_TRUE(leaf.ok()) << leaf.status().ToString();
  EXPECT_EQ(ToHex(*leaf), ToHex(SpecLeaf()));

  // The level builder, given full keys: one root leaf, nothing excluded.
  std::vector<NewLeafEntry> entries = {{"x/c/0", FileRange{{"", kSpecFile}, 0, 16}},
                                       {"x/zarr.json", std::string("{}")}};
  auto nodes = EncodeLeafLevel(entries, {});
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].encoded, SpecLeaf());
  EXPECT_EQ((*nodes)[0].stats, (BtreeStats{2, 82, 16}));
  EXPECT_EQ((*nodes)[0].excluded_prefix_length, 0u);

  Manifest m{.config = SpecConfig(), .files = {{"", kSpecFile}}};
  m.versions = {GenerationRef{.generation_number = 1,
                              .root = {0, 16, 82},
                              .stats = {2, 82, 16},
                              .commit_time_ns = 1700000000000000000ull}};
  auto manifest = EncodeManifest(m);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(ToHex(*manifest), ToHex(SpecManifest()));
}

TEST(OcdbtDataFileTableEncodeTest, SortedDedupedAndPrefixRule) {
  DataFileTableBuilder t;
  t.Add({"b/", "d/x2"});
  t.Add({"a/", "d/x1"});
  t.Add({"b/", "d/x1"});
  t.Add({"a/", "d/x1"});
  t.Add({"ab/", "d/x1"});
  ByteWriter w;
  ASSERT_TRUE(t.Encode(w).ok());
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.IndexOf({"a/", "d/x1"}), 0u);
  EXPECT_EQ(t.IndexOf({"ab/", "d/x1"}), 1u);
  EXPECT_EQ(t.IndexOf({"b/", "d/x1"}), 2u);
  EXPECT_EQ(t.IndexOf({"b/", "d/x2"}), 3u);
  // Prefixes: "a/"|"ab/" share "a" (base paths differ: stop at them); "ab/"|"b/" share none;
  // "b/d/x1"|"b/d/x2" share "b/d/x" (equal base paths: continue into the relative paths).
  ByteReader r(w.data(), Source{"table"});
  std::vector<DataFileId> files;
  ASSERT_TRUE(ReadDataFileTable(r, "", &files).ok());
  EXPECT_TRUE(r.at_end());
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[1], (DataFileId{"ab/", "d/x1"}));
  EXPECT_EQ(files[3], (DataFileId{"b/", "d/x2"}));
  EXPECT_EQ(ToHex(w.data().substr(0, 4)),
            "04"
            "01"
            "00"
            "05");

  // The missing root's empty file: 01 00 00.
  DataFileTableBuilder empty_file;
  empty_file.Add({});
  ByteWriter w2;
  ASSERT_TRUE(empty_file.Encode(w2).ok());
  EXPECT_EQ(ToHex(w2.data()), "010000");
  DataFileTableBuilder none;
  ByteWriter w3;
  ASSERT_TRUE(none.Encode(w3).ok());
  EXPECT_EQ(ToHex(w3.data()), "00");
}

TEST(OcdbtManifestEncodeTest, EmptyTreeAndRejections) {
  Manifest m{.config = SpecConfig()};
  m.versions = {GenerationRef{
      .generation_number = 1, .root = {0, UINT64_MAX, UINT64_MAX}, .commit_time_ns = 5}};
  auto bytes = EncodeManifest(m);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto back = DecodeManifest(*bytes, Source{"m"});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->files.size(), 1u);
  EXPECT_EQ(back->files[0], DataFileId{});
  EXPECT_TRUE(back->versions[0].root.IsMissing());

  Manifest none{.config = SpecConfig()};
  EXPECT_EQ(EncodeManifest(none).status().code(), StatusCode::kInvalidArgument);
  BtreeNode unsorted;
  unsorted.leaf_entries = {{"b", std::string()}, {"a", std::string()}};
  EXPECT_EQ(EncodeBtreeNode(unsorted, {}).status().code(), StatusCode::kInvalidArgument);
  BtreeNode bad_file;
  bad_file.leaf_entries = {{"a", IndirectRef{3, 0, 1}}};
  EXPECT_EQ(EncodeBtreeNode(bad_file, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeBtreeNode(BtreeNode{}, {}).status().code(), StatusCode::kInvalidArgument);
}

// Re-encodes a decoded object with the compression its header names and compares: raw objects
// byte for byte, zstd ones by their decoded body (the zstd frame itself depends on the library).
void ExpectSameObject(const std::string& original, const std::string& reencoded, uint32_t magic,
                      const std::string& name) {
  ASSERT_GE(original.size(), 14u);
  EXPECT_EQ(original[13], reencoded[13]) << name << ": compression format byte";
  if (original[13] == 0) {
    EXPECT_EQ(ToHex(reencoded), ToHex(original)) << name;
  } else {
    auto a = DecodeEnvelope(original, magic, Source{name});
    auto b = DecodeEnvelope(reencoded, magic, Source{name});
    ASSERT_TRUE(a.ok() && b.ok()) << name;
    EXPECT_EQ(ToHex(*b), ToHex(*a)) << name;
  }
}

EnvelopeCompression HeaderCompression(const std::string& encoded) {
  return {.zstd = encoded[13] == 1, .level = 0};
}

TEST(OcdbtTensorstoreNodesTest, EveryObjectReencodesIdentically) {
  const fs::path seeds = TestData() / "seeds";
  int counts[3] = {0, 0, 0};
  for (const char* kind : {"manifest", "btree", "version_tree"}) {
    for (const auto& entry : fs::directory_iterator(seeds / kind)) {
      auto bytes = base::ReadFile(entry.path());
      ASSERT_TRUE(bytes.ok());
      const std::string name = entry.path().string();
      if (std::string(kind) == "manifest") {
        auto m = DecodeManifest(*bytes, Source{name});
        ASSERT_TRUE(m.ok()) << m.status().ToString();
        auto again = EncodeManifest(*m);
        ASSERT_TRUE(again.ok()) << name << ": " << again.status().ToString();
        ExpectSameObject(*bytes, *again, kManifestMagic, name);
        ++counts[0];
      } else if (std::string(kind) == "btree") {
        auto node = DecodeBtreeNode(*bytes, Source{name});
        ASSERT_TRUE(node.ok()) << node.status().ToString();
        auto again = EncodeBtreeNode(*node, HeaderCompression(*bytes));
        ASSERT_TRUE(again.ok()) << name << ": " << again.status().ToString();
        ExpectSameObject(*bytes, *again, kBtreeNodeMagic, name);
        ++counts[1];
      } else {
        auto node = DecodeVersionTreeNode(*bytes, Source{name});
        ASSERT_TRUE(node.ok()) << node.status().ToString();
        auto again = EncodeVersionTreeNode(*node, HeaderCompression(*bytes));
        ASSERT_TRUE(again.ok()) << name << ": " << again.status().ToString();
        ExpectSameObject(*bytes, *again, kVersionTreeNodeMagic, name);
        ++counts[2];
      }
    }
  }
  EXPECT_GE(counts[0], 5);   // manifests of every database, numbered ones included
  EXPECT_GE(counts[1], 20);  // leaves and interior nodes (raw_multi has height 4)
  EXPECT_GE(counts[2], 2);   // version-tree nodes of height 1 and 2
}

// TensorStore's split: at most max_decoded_node_bytes (estimated) per node, about equal sizes;
// non-root nodes exclude the common prefix of their first and last keys.
TEST(OcdbtBtreeBuilderTest, SplitsLevelsAndExcludesPrefixes) {
  std::vector<NewLeafEntry> entries;
  for (int i = 0; i < 40; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "params/layer%02d/w", i);
    entries.push_back({key, std::string(10, 'v')});
  }
  const BtreeBuildOptions options{.max_decoded_node_bytes = 200};
  auto leaves = EncodeLeafLevel(entries, options);
  ASSERT_TRUE(leaves.ok());
  // Each entry is estimated at 16 + 10 value + 16 key bytes, less the level's 12-byte common
  // prefix ("params/layer") after the first: 40 entries in ceil((42 + 39*30) / 200) = 7 nodes.
  ASSERT_EQ(leaves->size(), 7u);
  uint64_t keys = 0;
  for (const auto& leaf : *leaves) {
    auto node = DecodeBtreeNode(leaf.encoded, Source{"leaf"});
    ASSERT_TRUE(node.ok());
    keys += node->leaf_entries.size();
    EXPECT_EQ(leaf.stats.num_keys, node->leaf_entries.size());
    EXPECT_EQ(leaf.stats.num_tree_bytes, leaf.encoded.size());
    EXPECT_GE(leaf.excluded_prefix_length, 12u);  // "params/layer" or more
    EXPECT_EQ(node->leaf_entries[0].key,
              leaf.inclusive_min_key.substr(leaf.excluded_prefix_length));
  }
  EXPECT_EQ(keys, 40u);

  std::vector<NewInteriorEntry> parents;
  uint64_t offset = 0;
  for (const auto& leaf : *leaves) {
    parents.push_back(ParentEntry(leaf, FileRange{{"", "d/f"}, offset, leaf.encoded.size()}));
    offset += leaf.encoded.size();
  }
  auto roots = EncodeInteriorLevel(parents, 1, {.max_decoded_node_bytes = 100000000});
  ASSERT_TRUE(roots.ok());
  ASSERT_EQ(roots->size(), 1u);
  EXPECT_EQ((*roots)[0].excluded_prefix_length, 0u);  // a root excludes nothing
  EXPECT_EQ((*roots)[0].stats.num_keys, 40u);
  auto root = DecodeBtreeNode((*roots)[0].encoded, Source{"root"});
  ASSERT_TRUE(root.ok());
  ASSERT_EQ(root->interior_entries.size(), 7u);
  EXPECT_EQ(root->interior_entries[0].key, "params/layer00/w");
  EXPECT_EQ(root->interior_entries[0].subtree_common_prefix_length,
            (*leaves)[0].excluded_prefix_length);
}

std::vector<KeyValue> SampleEntries(int n, std::mt19937& rng) {
  std::vector<KeyValue> kv;
  for (int i = 0; i < n; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "arr%02d/c/%d", i % 7, i);
    const size_t size = (i * 37) % 300;  // inline (<= 100) and indirect, empty included
    std::string value(size, '\0');
    for (auto& c : value) c = static_cast<char>(rng());
    kv.push_back({key, value});
  }
  std::sort(kv.begin(), kv.end(), [](auto& a, auto& b) { return a.key < b.key; });
  return kv;
}

TEST(OcdbtWriterTest, ReadViewReadsEveryKeyBack) {
  std::mt19937 rng(7);
  const auto kv = SampleEntries(200, rng);
  for (bool zstd : {false, true}) {
    SCOPED_TRACE(zstd ? "zstd" : "raw");
    const fs::path root = TempDir(zstd ? "zstd" : "raw");
    auto written = WriteDatabase(root, kv,
                                 {.use_zstd = zstd,
                                  .max_inline_value_bytes = 100,
                                  .max_decoded_node_bytes = 600,
                                  .target_data_file_size = 4096,
                                  .commit_time_ns = 1234});
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    EXPECT_GE(written->data_files.size(), 3u);
    for (const auto& f : written->data_files) {
      EXPECT_EQ(f.size(), 34u);
      EXPECT_EQ(f.find_first_not_of("0123456789abcdef", 2), std::string::npos) << f;
    }
    auto view = ReadView::Open(root);
    ASSERT_TRUE(view.ok()) << view.status().ToString();
    EXPECT_EQ(view->manifest().config.zstd, zstd);
    EXPECT_EQ(view->manifest().config.max_inline_value_bytes, 100u);
    const GenerationRef& g = view->generation();
    EXPECT_EQ(g.generation_number, 1u);
    EXPECT_EQ(g.commit_time_ns, 1234u);
    EXPECT_GE(g.root_height, 2);  // interior nodes over interior nodes
    EXPECT_EQ(g.stats.num_keys, kv.size());
    uint64_t indirect = 0;
    for (const auto& e : kv) indirect += e.value.size() > 100 ? e.value.size() : 0;
    EXPECT_EQ(g.stats.num_indirect_value_bytes, indirect);
    auto keys = view->ListKeys();
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    ASSERT_EQ(keys->size(), kv.size());
    for (size_t i = 0; i < kv.size(); ++i) {
      EXPECT_EQ((*keys)[i], kv[i].key);
      auto v = view->Get(kv[i].key);
      ASSERT_TRUE(v.ok() && v->has_value()) << kv[i].key;
      EXPECT_EQ(**v, kv[i].value) << kv[i].key;
    }
    auto missing = view->Get("arr00/c/999");
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value());
    EXPECT_FALSE(fs::exists(root / "manifest.ocdbt.__cairn_tmp"));
  }
}

TEST(OcdbtWriterTest, EmptyTreeSingleLeafAndErrors) {
  const fs::path empty = TempDir("empty");
  auto w = WriteDatabase(empty, {});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_TRUE(w->data_files.empty());
  auto view = ReadView::Open(empty);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_TRUE(view->generation().root.IsMissing());
  auto keys = view->ListKeys();
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_TRUE(keys->empty());
  EXPECT_EQ(WriteDatabase(empty, {}).status().code(), StatusCode::kAlreadyExists);

  // Orbax defaults: a zarr.json-sized value inline, one root leaf, one data file.
  const fs::path one = TempDir("one");
  auto w2 = WriteDatabase(one, {{"a/c/0", std::string(5000, 'x')}, {"a/zarr.json", "{}"}});
  ASSERT_TRUE(w2.ok()) << w2.status().ToString();
  EXPECT_EQ(w2->data_files.size(), 1u);
  EXPECT_EQ(w2->manifest.versions[0].root_height, 0);
  EXPECT_EQ(w2->manifest.versions[0].root.offset, 5000u);  // values first, then the node
  EXPECT_TRUE(w2->manifest.config.zstd);
  EXPECT_EQ(w2->manifest.config.max_decoded_node_bytes, 100000000u);

  const fs::path bad = TempDir("bad");
  EXPECT_EQ(WriteDatabase(bad, {{"b", ""}, {"a", ""}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteDatabase(bad, {{"a", ""}, {"a", ""}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteDatabase(bad, {}, {.max_decoded_node_bytes = 0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(bad / "manifest.ocdbt"));
}

}  // namespace
}  // namespace cairn::ocdbt
