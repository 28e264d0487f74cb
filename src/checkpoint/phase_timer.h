#pragma once
// Seconds spent per phase on this rank, for `_CHECKPOINT_METADATA.performance_metrics`.

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

namespace cairn::checkpoint {

class PhaseTimer {
 public:
  void Mark(const std::string& phase) {
    const auto now = std::chrono::steady_clock::now();
    const double secs = std::chrono::duration<double>(now - last_).count();
    metrics_[phase] = metrics_.value(phase, 0.0) + secs;
    last_ = now;
  }
  const nlohmann::json& metrics() const { return metrics_; }
  /// Adds these phases' seconds into `into` (may be null).
  void AddTo(nlohmann::json* into) const {
    if (into == nullptr) return;
    for (const auto& [phase, secs] : metrics_.items()) {
      (*into)[phase] = into->value(phase, 0.0) + secs.get<double>();
    }
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  nlohmann::json metrics_ = nlohmann::json::object();
};

}  // namespace cairn::checkpoint
