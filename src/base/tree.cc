#include <string>

#include "cairn/tree.h"

namespace cairn {

std::string KeyPathString(const KeyPath& path) {
  std::string s;
  for (size_t i = 0; i < path.size(); ++i) {
    if (i) s += '.';
    s += path[i].key;
  }
  return s;
}

std::string_view LeafKind(const Leaf& leaf) {
  switch (leaf.index()) {
    case 0: return "array";
    case 1: return "scalar";
    case 2: return "string";
    default: return "json";
  }
}

namespace {
template <typename TreeT, typename Fn>
void Walk(TreeT& t, KeyPath& path, Fn& fn) {
  if (t.is_leaf()) {
    fn(path, t.leaf());
  } else if (t.is_map()) {
    for (auto& [k, child] : t.map()) {
      path.push_back({k, false});
      Walk(child, path, fn);
      path.pop_back();
    }
  } else {
    auto& list = t.list();
    for (size_t i = 0; i < list.size(); ++i) {
      path.push_back({std::to_string(i), true});
      Walk(list[i], path, fn);
      path.pop_back();
    }
  }
}

template <typename TreeT>
TreeT* FindImpl(TreeT* t, const KeyPath& path) {
  for (const auto& seg : path) {
    if (t->is_map()) {
      auto it = t->map().find(seg.key);
      if (it == t->map().end()) return nullptr;
      t = &it->second;
    } else if (t->is_list()) {
      char* end = nullptr;
      unsigned long idx = std::strtoul(seg.key.c_str(), &end, 10);
      if (seg.key.empty() || *end != '\0' || idx >= t->list().size()) return nullptr;
      t = &t->list()[idx];
    } else {
      return nullptr;
    }
  }
  return t;
}
}  // namespace

void Tree::ForEachLeaf(const std::function<void(const KeyPath&, const Leaf&)>& fn) const {
  KeyPath path;
  Walk(*this, path, fn);
}

void Tree::ForEachLeaf(const std::function<void(const KeyPath&, Leaf&)>& fn) {
  KeyPath path;
  Walk(*this, path, fn);
}

size_t Tree::NumLeaves() const {
  size_t n = 0;
  ForEachLeaf([&](const KeyPath&, const Leaf&) { ++n; });
  return n;
}

const Tree* Tree::Find(const KeyPath& path) const { return FindImpl(this, path); }
Tree* Tree::Find(const KeyPath& path) { return FindImpl(this, path); }

Status Tree::Insert(const KeyPath& path, Tree value) {
  Tree* t = this;
  for (size_t i = 0; i < path.size(); ++i) {
    const KeySegment& seg = path[i];
    const bool last = i + 1 == path.size();
    if (seg.is_index) {
      if (t->is_map() && t->map().empty()) t->node_ = List{};
      if (!t->is_list()) {
        return InvalidArgumentError("key path '" + KeyPathString(path) + "': '" + seg.key +
                                    "' indexes a node that is not a list");
      }
      size_t idx = std::stoul(seg.key);
      if (idx > t->list().size()) {
        return InvalidArgumentError("key path '" + KeyPathString(path) + "': list index " +
                                    seg.key + " skips entries");
      }
      if (idx == t->list().size()) t->list().emplace_back();
      t = &t->list()[idx];
    } else {
      if (!t->is_map()) {
        return InvalidArgumentError("key path '" + KeyPathString(path) + "': '" + seg.key +
                                    "' is a map key under a node that is not a map");
      }
      t = &t->map()[seg.key];
    }
    if (last) *t = std::move(value);
  }
  if (path.empty()) *this = std::move(value);
  return OkStatus();
}

}  // namespace cairn
