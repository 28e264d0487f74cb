#pragma once
// The staging arena: host buffers that hold copies of the caller's data while a save writes them,
// with a byte budget (MemoryOptions) and reuse across saves, so that a save never holds more
// extra memory than the user allows and repeated saves do not pay for fresh pages (or fresh
// pinned allocations) each time.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>

#include "cairn/status.h"

namespace cairn {

class StagingArena {
 public:
  /// A buffer of at least `size` bytes.
  struct Buffer {
    void* data = nullptr;
    size_t size = 0;      // bytes asked for (counted against the budget)
    size_t capacity = 0;  // bytes allocated
    bool pinned = false;
    bool counted = true;  // false for buffers outside the budget (prioritized keys)
  };

  StagingArena() = default;
  ~StagingArena();
  StagingArena(const StagingArena&) = delete;
  StagingArena& operator=(const StagingArena&) = delete;

  /// The budget: most bytes in counted buffers at once; none for no limit. Set between saves.
  void SetLimit(std::optional<int64_t> limit);
  std::optional<int64_t> limit() const;

  /// A counted buffer if it fits the budget now (a buffer larger than the whole budget fits
  /// when nothing else is in use); none otherwise, and then every later TryAcquire of this save
  /// answers none too, so that the pieces copied later are all written after the ones staged
  /// now (which is what keeps Acquire from waiting on a buffer that is written after it).
  /// ResourceExhausted when memory runs out.
  Result<std::optional<Buffer>> TryAcquire(size_t size, bool pinned);
  /// A counted buffer, waiting for earlier buffers to be released while the budget is full.
  /// Aborted if Abort() is called meanwhile.
  Result<Buffer> Acquire(size_t size, bool pinned);
  /// A buffer outside the budget (prioritized keys).
  Result<Buffer> AcquireUncounted(size_t size, bool pinned);
  /// Returns a buffer to the free lists (kept for the next save).
  void Release(Buffer buffer);
  /// Wakes every waiting Acquire with Aborted (a failed background write); cleared by Reset.
  void Abort(const Status& why);

  /// Starts a save: clears the abort flag and the peak counters.
  void Reset();
  /// Highest bytes in use at once since Reset: counted buffers, and all buffers.
  int64_t peak_counted_bytes() const;
  int64_t peak_bytes() const;
  /// Bytes currently allocated (in use or free for reuse).
  int64_t held_bytes() const;
  /// Frees every buffer not in use.
  void Trim();

 private:
  Result<Buffer> Take(size_t size, bool pinned, bool counted);  // mu_ held
  void EvictFor(size_t size);                                  // mu_ held
  bool Fits(size_t size) const;                                // mu_ held

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<int64_t> limit_;
  Status aborted_;
  bool deferring_ = false;
  int64_t in_use_counted_ = 0, in_use_ = 0, held_ = 0;
  int64_t peak_counted_ = 0, peak_ = 0;
  std::multimap<size_t, void*> free_[2];  // by capacity; [0] pageable, [1] pinned
};

}  // namespace cairn
