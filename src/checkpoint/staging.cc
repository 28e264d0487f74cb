#include "checkpoint/staging.h"

#include <algorithm>

#include "checkpoint/device_memory.h"

namespace cairn {

using checkpoint::AllocateHostBuffer;
using checkpoint::FreeHostBuffer;
using checkpoint::PinnedMemoryAvailable;

StagingArena::~StagingArena() { Trim(); }

void StagingArena::SetLimit(std::optional<int64_t> limit) {
  std::lock_guard<std::mutex> lock(mu_);
  limit_ = limit;
}

std::optional<int64_t> StagingArena::limit() const {
  std::lock_guard<std::mutex> lock(mu_);
  return limit_;
}

bool StagingArena::Fits(size_t size) const {
  if (!limit_) return true;
  return in_use_counted_ == 0 || in_use_counted_ + static_cast<int64_t>(size) <= *limit_;
}

void StagingArena::EvictFor(size_t size) {
  // Free buffers count as held memory: with a budget, held memory stays within it.
  if (!limit_) return;
  for (auto& list : free_) {
    for (auto it = list.begin(); it != list.end() && held_ + static_cast<int64_t>(size) > *limit_;) {
      FreeHostBuffer(it->second, &list == &free_[1]);
      held_ -= static_cast<int64_t>(it->first);
      it = list.erase(it);
    }
  }
}

Result<StagingArena::Buffer> StagingArena::Take(size_t size, bool pinned, bool counted) {
  pinned = pinned && PinnedMemoryAvailable();
  auto& list = free_[pinned ? 1 : 0];
  Buffer b;
  b.size = size;
  b.pinned = pinned;
  b.counted = counted;
  // Reuse the smallest free buffer that holds `size` without wasting more than half of it; with a
  // budget, only an exact fit, so that held memory stays what the budget counts.
  auto it = list.lower_bound(size);
  if (it != list.end() && (limit_ ? it->first == std::max<size_t>(size, 1) : it->first / 2 <= size)) {
    b.capacity = it->first;
    b.data = it->second;
    list.erase(it);
  } else {
    if (counted) EvictFor(size);
    b.capacity = std::max<size_t>(size, 1);
    b.data = AllocateHostBuffer(b.capacity, pinned);
    if (b.data == nullptr) {
      return ResourceExhaustedError("cannot allocate a staging buffer of " +
                                    std::to_string(size) + " bytes");
    }
    held_ += static_cast<int64_t>(b.capacity);
  }
  in_use_ += static_cast<int64_t>(size);
  peak_ = std::max(peak_, in_use_);
  if (counted) {
    in_use_counted_ += static_cast<int64_t>(size);
    peak_counted_ = std::max(peak_counted_, in_use_counted_);
  }
  return b;
}

Result<std::optional<StagingArena::Buffer>> StagingArena::TryAcquire(size_t size, bool pinned) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!aborted_.ok()) return aborted_;
  if (deferring_ || !Fits(size)) {
    deferring_ = true;
    return std::optional<Buffer>();
  }
  CAIRN_ASSIGN_OR_RETURN(Buffer b, Take(size, pinned, true));
  return std::optional<Buffer>(b);
}

Result<StagingArena::Buffer> StagingArena::Acquire(size_t size, bool pinned) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !aborted_.ok() || Fits(size); });
  if (!aborted_.ok()) return aborted_;
  return Take(size, pinned, true);
}

Result<StagingArena::Buffer> StagingArena::AcquireUncounted(size_t size, bool pinned) {
  std::lock_guard<std::mutex> lock(mu_);
  return Take(size, pinned, false);
}

void StagingArena::Release(Buffer b) {
  if (b.data == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_use_ -= static_cast<int64_t>(b.size);
    if (b.counted) in_use_counted_ -= static_cast<int64_t>(b.size);
    if (limit_ && held_ > *limit_ + in_use_ - in_use_counted_) {
      // Over the budget (a buffer larger than the limit): do not keep it.
      FreeHostBuffer(b.data, b.pinned);
      held_ -= static_cast<int64_t>(b.capacity);
    } else {
      free_[b.pinned ? 1 : 0].emplace(b.capacity, b.data);
    }
  }
  cv_.notify_all();
}

void StagingArena::Abort(const Status& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (aborted_.ok()) aborted_ = AbortedError("staging aborted: " + why.ToString());
  }
  cv_.notify_all();
}

void StagingArena::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  aborted_ = OkStatus();
  deferring_ = false;
  peak_counted_ = in_use_counted_;
  peak_ = in_use_;
}

int64_t StagingArena::peak_counted_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_counted_;
}

int64_t StagingArena::peak_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}

int64_t StagingArena::held_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_;
}

void StagingArena::Trim() {
  std::lock_guard<std::mutex> lock(mu_);
  for (int k = 0; k < 2; ++k) {
    for (auto& [cap, p] : free_[k]) {
      FreeHostBuffer(p, k == 1);
      held_ -= static_cast<int64_t>(cap);
    }
    free_[k].clear();
  }
}

}  // namespace cairn
