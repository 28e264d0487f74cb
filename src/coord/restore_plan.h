#pragma once
// Planning a restore of one array leaf on this rank: which stored pieces to read, into which
// buffers, and what to zero-fill or report as missing.

#include <memory>
#include <string>
#include <vector>

#include "cairn/backend.h"
#include "cairn/metadata.h"
#include "cairn/options.h"

namespace cairn::coord {

/// One read of a stored box, and where its elements go.
struct ReadUnit {
  size_t stored_piece = 0;  // index into LeafMetadata::pieces
  Box box;                  // what is read (whole stored piece when verifying)
  bool verify = false;      // box is the whole stored piece: check its xxh3
  void* direct = nullptr;   // read straight into this target buffer (no scatter), or null
  std::vector<size_t> targets;  // target pieces to scatter into when !direct
  int64_t temp_bytes = 0;   // bytes of temporary buffer needed
};

struct LeafReadPlan {
  std::vector<ReadUnit> units;
  // Regions of target pieces to zero-fill (padding, or missing data when allowed).
  std::vector<std::pair<size_t, Box>> zero_fill;
};

/// Plans the reads of `target` (this rank's pieces) from `stored`. Checks were done before:
/// same rank, shapes equal unless padding, castable dtypes. DataLoss naming the key path and
/// region when part of a target piece has no stored data and raise_array_data_missing_error.
Result<LeafReadPlan> PlanLeafReads(const LeafMetadata& stored, const DistributedArray& target,
                                   const RestoreOptions& options);

}  // namespace cairn::coord
