#include "coord/restore_plan.h"

#include "base/box_ops.h"

namespace cairn::coord {

Result<LeafReadPlan> PlanLeafReads(const LeafMetadata& stored, const DistributedArray& target,
                                   const RestoreOptions& options) {
  LeafReadPlan plan;
  const std::string key = KeyPathString(stored.key_path);
  const Box stored_whole = base::WholeBox(stored.global_shape);
  const bool same_dtype = stored.dtype == target.dtype;
  const size_t elem = DTypeSize(stored.dtype);

  // Coverage first: padding outside the stored array, and gaps between stored pieces.
  for (size_t t = 0; t < target.pieces.size(); ++t) {
    const Box& tb = target.pieces[t].box;
    if (tb.NumElements() == 0) continue;
    std::vector<Box> inside;
    if (auto in = base::Intersect(tb, stored_whole)) inside.push_back(*in);
    for (const Box& pad : inside.empty() ? std::vector<Box>{tb} : base::Subtract(tb, inside[0])) {
      plan.zero_fill.emplace_back(t, pad);
    }
    std::vector<Box> gaps = inside;
    for (const auto& sp : stored.pieces) {
      std::vector<Box> next;
      for (const Box& g : gaps) {
        for (Box& rest : base::Subtract(g, sp.box)) next.push_back(std::move(rest));
      }
      gaps = std::move(next);
      if (gaps.empty()) break;
    }
    for (const Box& g : gaps) {
      if (options.array.raise_array_data_missing_error) {
        return DataLossError("key path '" + key + "': the checkpoint holds no data for region " +
                             g.ToString() + " (target piece " + tb.ToString() +
                             "); pass raise_array_data_missing_error=false to zero-fill it");
      }
      plan.zero_fill.emplace_back(t, g);
    }
  }

  for (size_t s = 0; s < stored.pieces.size(); ++s) {
    const Box& sb = stored.pieces[s].box;
    if (sb.NumElements() == 0) continue;
    std::vector<size_t> hit;
    for (size_t t = 0; t < target.pieces.size(); ++t) {
      if (target.pieces[t].box.NumElements() > 0 && base::Intersect(target.pieces[t].box, sb)) {
        hit.push_back(t);
      }
    }
    if (hit.empty()) continue;
    if (options.verify_checksums && stored.pieces[s].checksummed) {
      ReadUnit u{s, sb, true, nullptr, hit, 0};
      if (hit.size() == 1 && same_dtype && target.pieces[hit[0]].box == sb) {
        u.direct = target.pieces[hit[0]].data;
      } else {
        u.temp_bytes = sb.NumElements() * static_cast<int64_t>(elem);
      }
      plan.units.push_back(std::move(u));
    } else {
      for (size_t t : hit) {
        Box region = *base::Intersect(target.pieces[t].box, sb);
        ReadUnit u{s, region, false, nullptr, {t}, 0};
        if (same_dtype && region == target.pieces[t].box) {
          u.direct = target.pieces[t].data;
        } else {
          u.temp_bytes = region.NumElements() * static_cast<int64_t>(elem);
        }
        plan.units.push_back(std::move(u));
      }
    }
  }
  return plan;
}

}  // namespace cairn::coord
