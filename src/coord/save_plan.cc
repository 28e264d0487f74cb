#include "coord/save_plan.h"

#include <algorithm>
#include <cassert>
#include <nlohmann/json.hpp>

#include "base/box_ops.h"

namespace cairn::coord {
namespace {

using nlohmann::json;

json ToJson(const LeafDescriptor& d) {
  json keys = json::array();
  for (const auto& s : d.key_path) keys.push_back({s.key, s.is_index});
  json boxes = json::array();
  for (const auto& b : d.boxes) boxes.push_back({b.origin, b.shape});
  return json{{"k", keys},
              {"kind", d.kind},
              {"dt", static_cast<int>(d.dtype)},
              {"sdt", static_cast<int>(d.stored_dtype)},
              {"cbs", d.chunk_byte_size ? json(*d.chunk_byte_size) : json(nullptr)},
              {"shape", d.global_shape},
              {"boxes", boxes}};
}

LeafDescriptor FromJson(const json& j) {
  LeafDescriptor d;
  for (const auto& k : j.at("k")) d.key_path.push_back({k[0].get<std::string>(), k[1].get<bool>()});
  d.kind = j.at("kind").get<std::string>();
  d.dtype = static_cast<DType>(j.at("dt").get<int>());
  d.stored_dtype = static_cast<DType>(j.at("sdt").get<int>());
  if (!j.at("cbs").is_null()) d.chunk_byte_size = j.at("cbs").get<int64_t>();
  d.global_shape = j.at("shape").get<Shape>();
  for (const auto& b : j.at("boxes")) {
    d.boxes.push_back(Box{b[0].get<std::vector<int64_t>>(), b[1].get<std::vector<int64_t>>()});
  }
  return d;
}

using base::ShapeString;

// Metadata is JSON, which holds only UTF-8 text.
bool SerializableAsJson(const json& j) {
  try {
    (void)j.dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

}  // namespace

Status ValidateKey(const std::string& key, const KeyPath& path) {
  if (key.empty() || key.find('.') != std::string::npos || key.find('/') != std::string::npos) {
    return InvalidArgumentError("key path '" + KeyPathString(path) + "': key '" + key +
                                "' is empty or contains '.' or '/'");
  }
  if (!SerializableAsJson(json(key))) {
    return InvalidArgumentError("key path '" + KeyPathString(path) + "': a key is not valid UTF-8");
  }
  return OkStatus();
}

Result<std::vector<LeafDescriptor>> DescribeTree(const Tree& tree,
                                                 const ArrayOptions::Saving& options) {
  std::vector<LeafDescriptor> out;
  Status status;
  tree.ForEachLeaf([&](const KeyPath& path, const Leaf& leaf) {
    if (!status.ok()) return;
    for (const auto& seg : path) {
      if (!seg.is_index) status = ValidateKey(seg.key, path);
      if (!status.ok()) return;
    }
    if (path.empty()) {
      status = InvalidArgumentError("the root of a tree must be a map or list, not a leaf");
      return;
    }
    LeafDescriptor d;
    d.key_path = path;
    d.kind = std::string(LeafKind(leaf));
    const std::string where = "key path '" + KeyPathString(path) + "'";
    if (const auto* str = std::get_if<std::string>(&leaf); str && !SerializableAsJson(json(*str))) {
      status = InvalidArgumentError(where + ": the string is not valid UTF-8");
      return;
    }
    if (const auto* j = std::get_if<json>(&leaf); j && !SerializableAsJson(*j)) {
      status = InvalidArgumentError(where + ": the JSON value holds text that is not valid UTF-8");
      return;
    }
    if (const auto* a = std::get_if<DistributedArray>(&leaf)) {
      d.dtype = d.stored_dtype = a->dtype;
      d.global_shape = a->global_shape;
      StorageOptions so = options.storage_options;
      if (options.scoped_storage_options_creator) {
        if (auto scoped = options.scoped_storage_options_creator(path, *a)) {
          if (!scoped->shard_axes.empty()) {
            status = UnimplementedError(where +
                                        ": StorageOptions.shard_axes is not implemented yet "
                                        "(issue 5: OCDBT + zarr3 backend)");
            return;
          }
          if (scoped->dtype) so.dtype = scoped->dtype;
          if (scoped->chunk_byte_size) so.chunk_byte_size = scoped->chunk_byte_size;
        }
      }
      if (so.dtype) d.stored_dtype = *so.dtype;
      if (so.chunk_byte_size &&
          *so.chunk_byte_size < static_cast<int64_t>(DTypeSize(d.stored_dtype))) {
        status = InvalidArgumentError(where + ": chunk_byte_size " +
                                      std::to_string(*so.chunk_byte_size) +
                                      " is smaller than one element");
        return;
      }
      d.chunk_byte_size = so.chunk_byte_size;
      for (int64_t e : a->global_shape) {
        if (e < 0) {
          status = InvalidArgumentError(where + ": negative extent in global shape " +
                                        ShapeString(a->global_shape));
          return;
        }
      }
      for (const Piece& p : a->pieces) {
        if (!base::WithinShape(p.box, a->global_shape)) {
          status = InvalidArgumentError(where + ": piece " + p.box.ToString() +
                                        " does not lie within the global shape " +
                                        ShapeString(a->global_shape));
          return;
        }
        if (p.data == nullptr && p.box.NumElements() > 0) {
          status =
              InvalidArgumentError(where + ": piece " + p.box.ToString() + " has no data pointer");
          return;
        }
        d.boxes.push_back(p.box);
      }
    }
    out.push_back(std::move(d));
  });
  if (!status.ok()) return status;
  return out;
}

Result<std::vector<std::vector<LeafDescriptor>>> GatherDescriptors(
    Communicator& comm, const std::vector<LeafDescriptor>& mine) {
  json j = json::array();
  for (const auto& d : mine) j.push_back(ToJson(d));
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> all, comm.AllGather(j.dump()));
  std::vector<std::vector<LeafDescriptor>> out(all.size());
  try {
    for (size_t r = 0; r < all.size(); ++r) {
      for (const auto& e : json::parse(all[r])) out[r].push_back(FromJson(e));
    }
  } catch (const json::exception& e) {
    return InternalError(std::string("corrupt leaf descriptors exchanged between ranks: ") +
                         e.what());
  }
  // Every rank runs the same checks on the same data, so the outcome is the same everywhere.
  const auto& ref = out[0];
  for (size_t r = 1; r < out.size(); ++r) {
    const auto& other = out[r];
    const std::string who = "rank " + std::to_string(r);
    for (size_t i = 0; i < std::max(ref.size(), other.size()); ++i) {
      if (i >= ref.size() || i >= other.size() || ref[i].key_path != other[i].key_path) {
        std::string a = i < ref.size() ? KeyPathString(ref[i].key_path) : "(end of tree)";
        std::string b = i < other.size() ? KeyPathString(other[i].key_path) : "(end of tree)";
        return InvalidArgumentError("ranks disagree on the tree: leaf " + std::to_string(i) +
                                    " is '" + a + "' on rank 0 but '" + b + "' on " + who);
      }
      const std::string where = "key path '" + KeyPathString(ref[i].key_path) + "': ";
      if (ref[i].kind != other[i].kind) {
        return InvalidArgumentError(where + "a " + ref[i].kind + " on rank 0 but a " +
                                    other[i].kind + " on " + who);
      }
      if (ref[i].kind != "array") continue;
      if (ref[i].dtype != other[i].dtype) {
        return InvalidArgumentError(where + "dtype " + std::string(DTypeName(ref[i].dtype)) +
                                    " on rank 0 but " + std::string(DTypeName(other[i].dtype)) +
                                    " on " + who);
      }
      if (ref[i].global_shape != other[i].global_shape) {
        return InvalidArgumentError(where + "global shape " + ShapeString(ref[i].global_shape) +
                                    " on rank 0 but " + ShapeString(other[i].global_shape) +
                                    " on " + who);
      }
      if (ref[i].stored_dtype != other[i].stored_dtype ||
          ref[i].chunk_byte_size != other[i].chunk_byte_size) {
        return InvalidArgumentError(where + "storage options differ between rank 0 and " + who);
      }
    }
  }
  return out;
}

std::vector<PlannedPiece> PlanWrites(const std::vector<std::vector<LeafDescriptor>>& all,
                                     size_t leaf_index) {
  std::vector<PlannedPiece> plan;
  for (size_t r = 0; r < all.size(); ++r) {
    const auto& boxes = all[r][leaf_index].boxes;
    for (size_t p = 0; p < boxes.size(); ++p) {
      if (boxes[p].NumElements() == 0) continue;
      std::vector<Box> fragments = {boxes[p]};
      for (const PlannedPiece& done : plan) {
        std::vector<Box> next;
        for (const Box& f : fragments) {
          if (f == done.box) continue;  // exact replica: nothing left
          for (Box& rest : base::Subtract(f, done.box)) next.push_back(std::move(rest));
        }
        fragments = std::move(next);
        if (fragments.empty()) break;
      }
      for (Box& f : fragments) {
        plan.push_back({static_cast<int>(r), static_cast<int>(p), std::move(f)});
      }
    }
  }
  return plan;
}

namespace {

struct Holder {
  int rank = 0;
  int local_piece = 0;
};

// Every rank with a piece containing all of `box`, in rank order, with its first such piece.
std::vector<Holder> HoldersOf(const std::vector<std::vector<LeafDescriptor>>& all,
                              size_t leaf_index, const Box& box) {
  std::vector<Holder> holders;
  for (size_t r = 0; r < all.size(); ++r) {
    const auto& boxes = all[r][leaf_index].boxes;
    for (size_t p = 0; p < boxes.size(); ++p) {
      if (boxes[p].shape.size() == box.shape.size() && base::Contains(boxes[p], box)) {
        holders.push_back({static_cast<int>(r), static_cast<int>(p)});
        break;
      }
    }
  }
  return holders;
}

// `box` cut along `dim` into `n` contiguous slices whose extents differ by at most one (the
// larger ones first).
std::vector<Box> Slices(const Box& box, size_t dim, int64_t n) {
  std::vector<Box> out;
  const int64_t extent = box.shape[dim];
  int64_t start = 0;
  for (int64_t i = 0; i < n; ++i) {
    Box slice = box;
    slice.origin[dim] = box.origin[dim] + start;
    slice.shape[dim] = extent / n + (i < extent % n ? 1 : 0);
    start += slice.shape[dim];
    out.push_back(std::move(slice));
  }
  return out;
}

}  // namespace

std::vector<PlannedPiece> PlanWrites(const std::vector<std::vector<LeafDescriptor>>& all,
                                     size_t leaf_index, const ReplicaParallel& rp,
                                     std::vector<int64_t>* load) {
  std::vector<int64_t> local_load;
  if (load == nullptr) load = &local_load;
  if (load->size() < all.size()) load->resize(all.size(), 0);
  std::vector<PlannedPiece> base_plan = PlanWrites(all, leaf_index);
  if (all.empty()) return base_plan;
  const int64_t elem = static_cast<int64_t>(DTypeSize(all[0][leaf_index].stored_dtype));
  if (!rp.enabled) {
    for (const PlannedPiece& p : base_plan) (*load)[p.rank] += p.box.NumElements() * elem;
    return base_plan;
  }
  std::vector<PlannedPiece> plan;
  for (const PlannedPiece& planned : base_plan) {
    std::vector<Holder> holders = HoldersOf(all, leaf_index, planned.box);
    assert(!holders.empty() && "the planned rank holds its own box");
    const int64_t bytes = planned.box.NumElements() * elem;
    int64_t n = static_cast<int64_t>(holders.size());
    if (rp.max_replicas > 0) n = std::min<int64_t>(n, rp.max_replicas);
    if (rp.min_slice_bytes > 0) n = std::min(n, std::max<int64_t>(1, bytes / rp.min_slice_bytes));
    size_t dim = 0;
    if (n >= 2) {
      const Shape& shape = planned.box.shape;
      auto it = std::find_if(shape.begin(), shape.end(), [n](int64_t e) { return e >= n; });
      if (it == shape.end()) {
        it = std::max_element(shape.begin(), shape.end());  // the outermost of the largest
        n = it == shape.end() ? 1 : *it;
      }
      dim = static_cast<size_t>(it - shape.begin());
    }
    n = std::max<int64_t>(n, 1);
    // The n least loaded holders; stable_sort keeps rank order among equal loads.
    std::stable_sort(holders.begin(), holders.end(), [&](const Holder& a, const Holder& b) {
      return (*load)[a.rank] < (*load)[b.rank];
    });
    std::vector<Box> slices = n >= 2 ? Slices(planned.box, dim, n) : std::vector<Box>{planned.box};
    for (size_t i = 0; i < slices.size(); ++i) {
      (*load)[holders[i].rank] += slices[i].NumElements() * elem;
      plan.push_back({holders[i].rank, holders[i].local_piece, std::move(slices[i])});
    }
  }
  return plan;
}

std::vector<int64_t> BytesPerRank(const std::vector<PlannedPiece>& plan, size_t elem_size,
                                  int nranks) {
  std::vector<int64_t> bytes(static_cast<size_t>(std::max(nranks, 0)), 0);
  for (const PlannedPiece& p : plan) {
    assert(p.rank >= 0 && p.rank < nranks && "planned rank outside the communicator");
    bytes[p.rank] += p.box.NumElements() * static_cast<int64_t>(elem_size);
  }
  return bytes;
}

Shape GreedyChunkShape(Shape chunk, size_t elem_size, int64_t max_bytes) {
  if (chunk.empty()) return chunk;
  for (auto& e : chunk) e = std::max<int64_t>(e, 1);
  while (base::NumElements(chunk) * static_cast<int64_t>(elem_size) > max_bytes) {
    size_t largest = 0;
    for (size_t d = 1; d < chunk.size(); ++d) {
      if (chunk[d] > chunk[largest]) largest = d;
    }
    if (chunk[largest] <= 1) break;
    chunk[largest] = (chunk[largest] + 1) / 2;
  }
  return chunk;
}

namespace {

void SplitBox(const Box& box, size_t dim, size_t elem, int64_t max_bytes, std::vector<Box>& out) {
  int64_t bytes = static_cast<int64_t>(elem) * box.NumElements();
  if (bytes <= max_bytes || dim >= box.shape.size()) {
    out.push_back(box);
    return;
  }
  // Bytes per index along `dim` (the product of the inner extents).
  int64_t per_index = static_cast<int64_t>(elem);
  for (size_t d = dim + 1; d < box.shape.size(); ++d) per_index *= box.shape[d];
  const int64_t step = std::max<int64_t>(1, max_bytes / std::max<int64_t>(per_index, 1));
  for (int64_t start = 0; start < box.shape[dim]; start += step) {
    Box part = box;
    part.origin[dim] = box.origin[dim] + start;
    part.shape[dim] = std::min(step, box.shape[dim] - start);
    SplitBox(part, dim + 1, elem, max_bytes, out);
  }
}

}  // namespace

void SplitPlannedPieces(std::vector<PlannedPiece>& plan, size_t elem_size, int64_t max_bytes) {
  if (max_bytes <= 0) return;
  std::vector<PlannedPiece> out;
  out.reserve(plan.size());
  for (const PlannedPiece& p : plan) {
    std::vector<Box> boxes;
    SplitBox(p.box, 0, elem_size, max_bytes, boxes);
    for (Box& b : boxes) out.push_back({p.rank, p.local_piece, std::move(b)});
  }
  plan = std::move(out);
}

std::optional<Shape> ChooseChunkShape(const LeafDescriptor& leaf, bool compress,
                                      const std::vector<PlannedPiece>& plan,
                                      std::optional<int64_t> max_chunk_bytes) {
  if (leaf.global_shape.empty() || base::NumElements(leaf.global_shape) == 0) return std::nullopt;
  const size_t elem = DTypeSize(leaf.stored_dtype);
  if (leaf.chunk_byte_size) return GreedyChunkShape(leaf.global_shape, elem, *leaf.chunk_byte_size);
  if (!compress) return std::nullopt;
  int64_t kMaxChunkBytes = 64 << 20;
  if (max_chunk_bytes)
    kMaxChunkBytes = std::max<int64_t>(1, std::min(kMaxChunkBytes, *max_chunk_bytes));
  Shape start = plan.empty() ? leaf.global_shape : plan.front().box.shape;
  return GreedyChunkShape(start, elem, kMaxChunkBytes);
}

}  // namespace cairn::coord
