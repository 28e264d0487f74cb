#include "manager/step_names.h"

#include <charconv>

namespace cairn::manager {

std::string FormatStepName(const StepNameFormat& format, int64_t step) {
  std::string digits = std::to_string(step);
  if (format.fixed_length && static_cast<int>(digits.size()) < *format.fixed_length) {
    digits.insert(0, static_cast<size_t>(*format.fixed_length) - digits.size(), '0');
  }
  return format.prefix ? *format.prefix + "_" + digits : digits;
}

std::optional<int64_t> ParseStepName(const StepNameFormat& format, std::string_view name) {
  if (format.prefix) {
    const std::string head = *format.prefix + "_";
    if (name.substr(0, head.size()) != head) return std::nullopt;
    name.remove_prefix(head.size());
  }
  if (name.empty() || name.size() > 18) return std::nullopt;
  for (char c : name) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  int64_t step = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), step);
  if (ec != std::errc() || end != name.data() + name.size()) return std::nullopt;
  return step;
}

}  // namespace cairn::manager
