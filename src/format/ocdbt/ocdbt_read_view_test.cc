// The decoders and ReadView against databases TensorStore wrote (testdata/, made by
// make_testdata.py): every key and value, the manifest, every B+tree and version-tree node
// compared with tensorstore.ocdbt.dump, every generation, and corrupted copies.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "format/ocdbt/read_view.h"
#include "format/ocdbt/test_util.h"

namespace cairn::ocdbt {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::ToHex;

fs::path TestData() {
  const char* dir = std::getenv("OCDBT_TESTDATA");
  return dir ? fs::path(dir) : fs::path("src/format/ocdbt/testdata");
}

const Json& Expected() {
  static const Json j = [] {
    std::ifstream in(TestData() / "expected.json");
    return Json::parse(in);
  }();
  return j;
}

std::vector<std::string> DatabaseNames() {
  return {"raw_multi", "zstd_orbax", "merged", "numbered"};
}

// "btreenode:<base>:<rel>:<offset>:<length>" as tensorstore.ocdbt.dump writes locations.
struct Location {
  std::string kind;
  DataFileId file;
  uint64_t offset, length;
};
Location ParseLocation(const std::string& s) {
  Location l;
  const size_t a = s.find(':'), b = s.find(':', a + 1);
  const size_t d = s.rfind(':'), c = s.rfind(':', d - 1);
  l.kind = s.substr(0, a);
  l.file = {s.substr(a + 1, b - a - 1), s.substr(b + 1, c - b - 1)};
  l.offset = std::stoull(s.substr(c + 1, d - c - 1));
  l.length = std::stoull(s.substr(d + 1));
  return l;
}
std::string FormatLocation(const std::string& kind, const DataFileId& f, const IndirectRef& r) {
  return kind + ":" + f.base_path + ":" + f.relative_path + ":" + std::to_string(r.offset) + ":" +
         std::to_string(r.length);
}

Json StatsJson(const BtreeStats& s) {
  return {{"num_keys", s.num_keys},
          {"num_tree_bytes", s.num_tree_bytes},
          {"num_indirect_value_bytes", s.num_indirect_value_bytes}};
}

// The manifest / version-node leaf entry as dump() writes it.
Json GenerationJson(const GenerationRef& g, const std::vector<DataFileId>& files) {
  Json root = {{"statistics", StatsJson(g.stats)}};
  if (!g.root.IsMissing())
    root["location"] = FormatLocation("btreenode", files[g.root.file], g.root);
  return {{"commit_time", g.commit_time_ns},
          {"generation_number", g.generation_number},
          {"root", root},
          {"root_height", g.root_height}};
}
Json VersionNodeJson(const VersionNodeRef& v, const std::vector<DataFileId>& files,
                     bool with_height) {
  Json j = {{"commit_time", v.commit_time_ns},
            {"generation_number", v.generation_number},
            {"location", FormatLocation("versionnode", files[v.location.file], v.location)},
            {"num_generations", v.num_generations}};
  if (with_height) j["height"] = v.height;
  return j;
}

Json BtreeNodeJson(const BtreeNode& n) {
  Json entries = Json::array();
  for (const auto& e : n.leaf_entries) {
    Json j = {{"key", ToHex(e.key)}};
    if (e.is_inline()) {
      j["inline_value"] = ToHex(std::get<std::string>(e.value));
    } else {
      const auto& r = std::get<IndirectRef>(e.value);
      j["indirect_value"] = FormatLocation("value", n.files[r.file], r);
    }
    entries.push_back(j);
  }
  for (const auto& e : n.interior_entries) {
    entries.push_back(
        {{"key", ToHex(e.key)},
         {"location", FormatLocation("btreenode", n.files[e.child.file], e.child)},
         {"subtree_common_prefix", ToHex(e.key.substr(0, e.subtree_common_prefix_length))},
         {"statistics", StatsJson(e.stats)}});
  }
  return {{"height", n.height}, {"entries", entries}};
}

Json VersionTreeNodeJson(const VersionTreeNode& n) {
  Json entries = Json::array();
  for (const auto& g : n.leaf_entries) entries.push_back(GenerationJson(g, n.files));
  for (const auto& v : n.interior_entries) {
    Json j = VersionNodeJson(v, n.files, true);
    entries.push_back(j);
  }
  return {{"height", n.height}, {"version_tree_arity_log2", n.arity_log2}, {"entries", entries}};
}

class OcdbtRealDataTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OcdbtRealDataTest, ManifestMatchesDump) {
  const Json& want = Expected()["databases"][GetParam()]["manifest"];
  auto view = ReadView::Open(TestData() / GetParam());
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  const Manifest& m = view->manifest();
  const Json& cfg = want["config"];
  EXPECT_EQ(ToHex(std::string(m.config.uuid.begin(), m.config.uuid.end())), cfg["uuid"]);
  EXPECT_EQ(m.config.max_inline_value_bytes, cfg["max_inline_value_bytes"]);
  EXPECT_EQ(m.config.max_decoded_node_bytes, cfg["max_decoded_node_bytes"]);
  EXPECT_EQ(m.config.version_tree_arity_log2, cfg["version_tree_arity_log2"]);
  EXPECT_EQ(m.config.zstd, !cfg["compression"].is_null());
  Json versions = Json::array(), nodes = Json::array();
  for (const auto& g : m.versions) versions.push_back(GenerationJson(g, m.files));
  for (const auto& v : m.version_nodes) nodes.push_back(VersionNodeJson(v, m.files, true));
  EXPECT_EQ(versions, want["versions"]);
  EXPECT_EQ(nodes, want["version_tree_nodes"]);
}

TEST_P(OcdbtRealDataTest, EveryNodeMatchesDump) {
  const Json& nodes = Expected()["databases"][GetParam()]["nodes"];
  ASSERT_FALSE(nodes.empty());
  for (const auto& [location, want] : nodes.items()) {
    const Location loc = ParseLocation(location);
    auto bytes = base::ReadFile(TestData() / GetParam() / loc.file.FullPath());
    ASSERT_TRUE(bytes.ok());
    const std::string encoded = bytes->substr(loc.offset, loc.length);
    const Source src{loc.file.FullPath(), loc.offset};
    if (loc.kind == "btreenode") {
      auto node = DecodeBtreeNode(encoded, src, loc.file.base_path);
      ASSERT_TRUE(node.ok()) << node.status().ToString();
      EXPECT_EQ(BtreeNodeJson(*node), want) << location;
    } else {
      auto node = DecodeVersionTreeNode(encoded, src, loc.file.base_path);
      ASSERT_TRUE(node.ok()) << node.status().ToString();
      EXPECT_EQ(VersionTreeNodeJson(*node), want) << location;
    }
  }
}

TEST_P(OcdbtRealDataTest, KeysAndValuesMatchTensorstore) {
  const Json& keys = Expected()["databases"][GetParam()]["keys"];
  auto view = ReadView::Open(TestData() / GetParam());
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  auto listed = view->ListKeys();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::vector<std::string> want_keys;
  for (const auto& [k, v] : keys.items()) want_keys.push_back(k);
  EXPECT_EQ(*listed, want_keys);
  for (const auto& [k, v] : keys.items()) {
    auto value = view->Get(k);
    ASSERT_TRUE(value.ok()) << value.status().ToString();
    ASSERT_TRUE(value->has_value()) << k;
    EXPECT_EQ((*value)->size(), v["size"].get<size_t>()) << k;
    EXPECT_EQ(Crc32c(**value), v["crc32c"].get<uint32_t>()) << k;
    if (v.contains("hex")) {
      EXPECT_EQ(ToHex(**value), v["hex"]) << k;
    }
  }
  // Absent keys, around and between the present ones.
  for (std::string k : {std::string(""), std::string("\xff"), std::string("a"),
                        want_keys.front() + "x", want_keys.back() + "\x01"}) {
    auto value = view->Get(k);
    ASSERT_TRUE(value.ok()) << value.status().ToString();
    EXPECT_FALSE(value->has_value()) << k;
  }
  // Prefix listing.
  const std::string prefix = want_keys.back().substr(0, 2);
  auto some = view->ListKeys(prefix);
  ASSERT_TRUE(some.ok());
  std::vector<std::string> want_some;
  for (const auto& k : want_keys) {
    if (k.compare(0, prefix.size(), prefix) == 0) want_some.push_back(k);
  }
  EXPECT_EQ(*some, want_some);
}

TEST_P(OcdbtRealDataTest, EveryGenerationListsItsKeyCount) {
  auto view = ReadView::Open(TestData() / GetParam());
  ASSERT_TRUE(view.ok());
  auto gens = view->ListGenerations();
  ASSERT_TRUE(gens.ok()) << gens.status().ToString();
  ASSERT_FALSE(gens->empty());
  EXPECT_EQ(gens->back().ref.generation_number, view->generation().generation_number);
  for (const auto& g : *gens) {
    auto at = view->AtGeneration(g.ref.generation_number);
    ASSERT_TRUE(at.ok()) << at.status().ToString();
    auto keys = at->ListKeys();
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    EXPECT_EQ(keys->size(), g.ref.stats.num_keys) << "generation " << g.ref.generation_number;
  }
  EXPECT_EQ(view->AtGeneration(1u << 30).status().code(), StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Databases, OcdbtRealDataTest, ::testing::ValuesIn(DatabaseNames()));

TEST(OcdbtRealDataShapeTest, DatabasesCoverTheCases) {
  // The properties the databases were made for (a regeneration must keep them).
  auto raw = ReadView::Open(TestData() / "raw_multi");
  ASSERT_TRUE(raw.ok());
  EXPECT_FALSE(raw->manifest().config.zstd);
  EXPECT_GE(raw->generation().root_height, 2);          // interior B+tree nodes
  EXPECT_GE(raw->manifest().version_nodes.size(), 2u);  // version-tree nodes of height 1, 2
  auto gens = raw->ListGenerations();
  ASSERT_TRUE(gens.ok());
  EXPECT_EQ(gens->size(), raw->generation().generation_number);
  auto merged = ReadView::Open(TestData() / "merged");
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(merged->generation().generation_number, 1u);  // Orbax's parent: one generation
  auto numbered = ReadView::Open(TestData() / "numbered");
  ASSERT_TRUE(numbered.ok());
  EXPECT_EQ(numbered->generation().generation_number, 4u);
  const Json& spec = Expected()["spec_example"];
  EXPECT_TRUE(spec.contains("tensorstore_reads")) << spec.dump();
  EXPECT_EQ(spec["tensorstore_reads"]["x/zarr.json"], "7b7d");
}

// A scratch copy of a test database.
fs::path CopyDatabase(const std::string& name, const std::string& tag) {
  const fs::path dst =
      fs::temp_directory_path() / ("ocdbt_test_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dst);
  fs::copy(TestData() / name, dst, fs::copy_options::recursive);
  return dst;
}

TEST(OcdbtReadViewTest, CorruptedFilesAreDataLossNamingTheFile) {
  const fs::path dir = CopyDatabase("raw_multi", "corrupt");
  auto view = ReadView::Open(dir);
  ASSERT_TRUE(view.ok());
  // Truncate the data file holding the root: reading any key fails, naming that file.
  const DataFileId root_file = view->manifest().files[view->generation().root.file];
  const fs::path path = dir / root_file.FullPath();
  fs::resize_file(path, view->generation().root.offset + 10);
  auto keys = view->ListKeys();
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(keys.status().message().find(root_file.relative_path), std::string::npos)
      << keys.status().message();
  // A missing data file.
  fs::remove(path);
  keys = view->ListKeys();
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), StatusCode::kDataLoss);
  // A flipped byte in the manifest.
  auto manifest = base::ReadFile(dir / "manifest.ocdbt");
  ASSERT_TRUE(manifest.ok());
  for (size_t i = 0; i < manifest->size(); i += 7) {
    std::string bad = *manifest;
    bad[i] ^= 0x40;
    ASSERT_TRUE(base::WriteFileDurably(dir / "manifest.ocdbt", bad).ok());
    auto v = ReadView::Open(dir);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(v.status().message().find("manifest.ocdbt"), std::string::npos);
  }
  fs::remove_all(dir);
  EXPECT_EQ(ReadView::Open(dir).status().code(), StatusCode::kNotFound);
}

TEST(OcdbtReadViewTest, PathsMayNotLeaveTheRoot) {
  const fs::path dir = CopyDatabase("spec_example", "paths");
  auto view = ReadView::Open(dir);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  for (const char* p : {"../x", "/etc/passwd", "d/../../x", "d//x", "./d"}) {
    auto r = view->ReadRange(DataFileId{"", p}, 0, 1);
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << p;
  }
  auto past_end = view->ReadRange(view->manifest().files[0], 90, 20);
  EXPECT_EQ(past_end.status().code(), StatusCode::kDataLoss);
  auto value = view->Get("x/c/0");
  ASSERT_TRUE(value.ok() && value->has_value());
  EXPECT_EQ(**value, "0123456789:;<=>?");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cairn::ocdbt
