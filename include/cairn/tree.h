#pragma once
/// The tree of named leaves that a checkpoint item holds: the C++ counterpart of a PyTree.
/// Interior nodes are maps (string keys, sorted) or lists; leaves are distributed arrays,
/// scalars, strings or JSON values. Key paths render as Orbax renders them: `params.dense.kernel`,
/// `layers.0.bias`.

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/array.h"
#include "cairn/status.h"

namespace cairn {

/// A single value with a dtype, replicated on every rank (the primary rank's value is saved).
class Scalar {
 public:
  Scalar() = default;
  template <typename T>
  explicit Scalar(T value) : dtype_(DTypeOf<T>()) {
    static_assert(sizeof(T) <= sizeof(bits_));
    std::memcpy(&bits_, &value, sizeof(T));
  }
  /// A scalar from its raw little-endian bit pattern.
  static Scalar FromBits(DType dtype, uint64_t bits) {
    Scalar s;
    s.dtype_ = dtype;
    s.bits_ = bits;
    return s;
  }
  DType dtype() const { return dtype_; }
  uint64_t bits() const { return bits_; }
  /// The value as T; T must be the scalar's own type (no conversion).
  template <typename T>
  T as() const {
    assert(DTypeOf<T>() == dtype_);
    T v;
    std::memcpy(&v, &bits_, sizeof(T));
    return v;
  }
  friend bool operator==(const Scalar&, const Scalar&) = default;

 private:
  DType dtype_ = DType::kInt64;
  uint64_t bits_ = 0;  // complex scalars are not supported: use a 0-d array.
};

/// One segment of a key path: a map key or a list index.
struct KeySegment {
  std::string key;  ///< The map key, or the list index in decimal.
  bool is_index = false;
  friend bool operator==(const KeySegment&, const KeySegment&) = default;
};
using KeyPath = std::vector<KeySegment>;
/// "params.dense.kernel", "layers.0.bias"; "" for the root.
std::string KeyPathString(const KeyPath& path);

/// A leaf value.
using Leaf = std::variant<DistributedArray, Scalar, std::string, nlohmann::json>;
/// "array", "scalar", "string" or "json".
std::string_view LeafKind(const Leaf& leaf);

/// A node of the tree. A default-constructed Tree is an empty map.
class Tree {
 public:
  using Map = std::map<std::string, Tree>;
  using List = std::vector<Tree>;

  Tree() : node_(Map{}) {}
  Tree(DistributedArray a) : node_(Leaf(std::move(a))) {}  // NOLINT: implicit leaf
  Tree(Scalar s) : node_(Leaf(std::move(s))) {}             // NOLINT
  Tree(std::string s) : node_(Leaf(std::move(s))) {}        // NOLINT
  Tree(const char* s) : node_(Leaf(std::string(s))) {}      // NOLINT
  /// A JSON leaf (explicit, since nlohmann::json converts from almost anything).
  static Tree Json(nlohmann::json j) {
    Tree t;
    t.node_ = Leaf(std::move(j));
    return t;
  }
  static Tree MakeList(List items = {}) {
    Tree t;
    t.node_ = std::move(items);
    return t;
  }

  bool is_map() const { return std::holds_alternative<Map>(node_); }
  bool is_list() const { return std::holds_alternative<List>(node_); }
  bool is_leaf() const { return std::holds_alternative<Leaf>(node_); }
  Map& map() { return std::get<Map>(node_); }
  const Map& map() const { return std::get<Map>(node_); }
  List& list() { return std::get<List>(node_); }
  const List& list() const { return std::get<List>(node_); }
  Leaf& leaf() { return std::get<Leaf>(node_); }
  const Leaf& leaf() const { return std::get<Leaf>(node_); }

  /// Map access, creating the child (an empty map) if absent. The node must be a map.
  Tree& operator[](const std::string& key) { return map()[key]; }
  /// Appends to a list node.
  Tree& Append(Tree child) {
    list().push_back(std::move(child));
    return list().back();
  }

  /// Finds a node by key path; nullptr if absent.
  const Tree* Find(const KeyPath& path) const;
  Tree* Find(const KeyPath& path);
  /// Inserts `value` at `path`, creating maps/lists on the way (list indices must be the next
  /// index or existing). InvalidArgument when a segment conflicts with an existing node kind.
  Status Insert(const KeyPath& path, Tree value);

  /// Visits every leaf in key order (maps sorted by key, lists by index).
  void ForEachLeaf(const std::function<void(const KeyPath&, const Leaf&)>& fn) const;
  void ForEachLeaf(const std::function<void(const KeyPath&, Leaf&)>& fn);
  /// Number of leaves.
  size_t NumLeaves() const;

 private:
  std::variant<Map, List, Leaf> node_;
};

}  // namespace cairn
