#pragma once
// The reference backend (registry name "reference"): one raw file per writing rank plus the
// locations in `_METADATA`. Plain POSIX I/O; documentation by example and a test double.

#include <memory>

#include "cairn/backend.h"

namespace cairn::storage {

std::unique_ptr<Backend> MakeReferenceBackend();

}  // namespace cairn::storage
