#include "storage/ocdbt/chunk_plan.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>
#include <string>

#include "base/box_ops.h"

namespace cairn::storage {
namespace {

// A grid whose chunks are this many times more numerous than the pieces' grid is replaced by
// the pieces' grid (with shared chunks), unless its chunks are already this large.
constexpr int64_t kMaxChunkCountRatio = 8;
constexpr int64_t kLargeEnoughChunkBytes = int64_t{4} << 20;

void Put(std::string& out, int64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }

class Cursor {
 public:
  explicit Cursor(const std::string& s) : s_(s) {}
  bool Get(int64_t& v) {
    if (s_.size() - at_ < sizeof v) return false;
    std::memcpy(&v, s_.data() + at_, sizeof v);
    at_ += sizeof v;
    return true;
  }
  bool done() const { return at_ == s_.size(); }

 private:
  const std::string& s_;
  size_t at_ = 0;
};

int64_t Product(const std::vector<uint64_t>& v) {
  int64_t n = 1;
  for (uint64_t d : v) n *= static_cast<int64_t>(d);
  return n;
}

// Per dimension: the GCD of the pieces' origins and extents (an extent that ends at the array's
// end is exempt: the last chunk is clipped there), then of `cap`; a dimension nothing
// constrains is one chunk.
std::vector<uint64_t> AlignedGrid(const Shape& shape, const std::optional<Shape>& cap,
                                  std::span<const PlacedPiece> pieces) {
  std::vector<uint64_t> grid;
  for (size_t d = 0; d < shape.size(); ++d) {
    int64_t g = 0;
    for (const PlacedPiece& p : pieces) {
      g = std::gcd(g, p.box.origin[d]);
      if (p.box.origin[d] + p.box.shape[d] != shape[d]) g = std::gcd(g, p.box.shape[d]);
    }
    if (cap && d < cap->size() && (*cap)[d] > 0) g = std::gcd(g, (*cap)[d]);
    if (g == 0) g = shape[d];
    grid.push_back(static_cast<uint64_t>(std::max<int64_t>(std::min(g, shape[d]), 1)));
  }
  return grid;
}

// Per dimension: the largest piece extent, within `cap`.
std::vector<uint64_t> PieceGrid(const Shape& shape, const std::optional<Shape>& cap,
                                std::span<const PlacedPiece> pieces) {
  std::vector<uint64_t> grid;
  for (size_t d = 0; d < shape.size(); ++d) {
    int64_t c = 0;
    for (const PlacedPiece& p : pieces) c = std::max(c, p.box.shape[d]);
    if (c == 0) c = shape[d];
    if (cap && d < cap->size() && (*cap)[d] > 0) c = std::min(c, (*cap)[d]);
    grid.push_back(static_cast<uint64_t>(std::max<int64_t>(std::min(c, shape[d]), 1)));
  }
  return grid;
}

}  // namespace

Result<std::vector<std::vector<PlacedPiece>>> GatherPieces(Communicator& comm,
                                                           std::span<const WriteLeaf> leaves) {
  std::string mine;
  for (const WriteLeaf& leaf : leaves) {
    int64_t count = 0;
    for (const WritePiece& p : leaf.pieces) count += p.box.NumElements() > 0 ? 1 : 0;
    Put(mine, count);
    for (size_t j = 0; j < leaf.pieces.size(); ++j) {
      const Box& b = leaf.pieces[j].box;
      if (b.NumElements() == 0) continue;
      Put(mine, static_cast<int64_t>(j));
      for (int64_t v : b.origin) Put(mine, v);
      for (int64_t v : b.shape) Put(mine, v);
    }
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> all, comm.AllGather(mine));
  std::vector<std::vector<PlacedPiece>> out(leaves.size());
  const Status disagree = InternalError("ocdbt backend: ranks disagree on the leaves being written");
  for (int r = 0; r < static_cast<int>(all.size()); ++r) {
    Cursor in(all[r]);
    for (size_t i = 0; i < leaves.size(); ++i) {
      const size_t dims = leaves[i].global_shape.size();
      int64_t count = 0;
      if (!in.Get(count) || count < 0) return disagree;
      for (int64_t k = 0; k < count; ++k) {
        PlacedPiece p;
        p.rank = r;
        int64_t index = 0;
        if (!in.Get(index) || index < 0) return disagree;
        p.index = static_cast<size_t>(index);
        p.box.origin.resize(dims);
        p.box.shape.resize(dims);
        for (int64_t& v : p.box.origin) {
          if (!in.Get(v)) return disagree;
        }
        for (int64_t& v : p.box.shape) {
          if (!in.Get(v)) return disagree;
        }
        out[i].push_back(std::move(p));
      }
    }
    if (!in.done()) return disagree;
  }
  return out;
}

ChunkPlan PlanChunks(const Shape& global_shape, size_t elem, const std::optional<Shape>& cap,
                     std::span<const PlacedPiece> pieces) {
  ChunkPlan plan;
  plan.touches.resize(pieces.size());
  const size_t rank = global_shape.size();
  const std::vector<uint64_t> aligned = AlignedGrid(global_shape, cap, pieces);
  const std::vector<uint64_t> coarse = PieceGrid(global_shape, cap, pieces);
  const bool fine = Product(coarse) >= kMaxChunkCountRatio * Product(aligned) &&
                    Product(aligned) * static_cast<int64_t>(elem) < kLargeEnoughChunkBytes;
  plan.chunk_shape = fine ? coarse : aligned;
  if (!fine) return plan;  // every piece is whole chunks of the aligned grid

  const std::vector<uint64_t>& c = plan.chunk_shape;
  const auto clipped = [&](const std::vector<uint64_t>& index) {
    Box b;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t lo = static_cast<int64_t>(index[d] * c[d]);
      b.origin.push_back(lo);
      b.shape.push_back(std::min<int64_t>(static_cast<int64_t>(c[d]), global_shape[d] - lo));
    }
    return b;
  };
  // Shared chunks, by grid index: per rank, how many of its elements lie in the chunk.
  std::map<std::vector<uint64_t>, std::map<int, int64_t>> held;
  std::vector<std::vector<std::vector<uint64_t>>> touched(pieces.size());
  for (size_t k = 0; k < pieces.size(); ++k) {
    const Box& box = pieces[k].box;
    bool whole = true;  // aligned on every side: only whole chunks
    std::vector<uint64_t> lo(rank), hi(rank);
    for (size_t d = 0; d < rank; ++d) {
      const int64_t end = box.origin[d] + box.shape[d];
      whole = whole && box.origin[d] % static_cast<int64_t>(c[d]) == 0 &&
              (end % static_cast<int64_t>(c[d]) == 0 || end == global_shape[d]);
      lo[d] = static_cast<uint64_t>(box.origin[d]) / c[d];
      hi[d] = static_cast<uint64_t>(end - 1) / c[d];
    }
    if (whole) continue;
    std::vector<uint64_t> index = lo;
    while (true) {
      const Box chunk = clipped(index);
      const std::optional<Box> part = base::Intersect(chunk, box);
      if (part && *part != chunk) {
        held[index][pieces[k].rank] += part->NumElements();
        touched[k].push_back(index);
      }
      size_t d = rank;
      while (d-- > 0) {
        if (++index[d] <= hi[d]) break;
        index[d] = lo[d];
      }
      if (d == static_cast<size_t>(-1)) break;
    }
  }
  std::map<std::vector<uint64_t>, size_t> position;
  for (const auto& [index, by_rank] : held) {
    int owner = by_rank.begin()->first;
    int64_t total = 0;
    for (const auto& [r, n] : by_rank) {
      if (n > by_rank.at(owner)) owner = r;
      total += n;
    }
    position[index] = plan.shared.size();
    plan.shared.push_back({index, clipped(index), owner, total});
  }
  for (size_t k = 0; k < pieces.size(); ++k) {
    for (const std::vector<uint64_t>& index : touched[k]) {
      plan.touches[k].push_back(position.at(index));
    }
    std::sort(plan.touches[k].begin(), plan.touches[k].end());
  }
  return plan;
}

}  // namespace cairn::storage
