#pragma once
// Step directory names: `<step>`, `<prefix>_<step>`, zero-padded to a fixed width (internal).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cairn::manager {

struct StepNameFormat {
  std::optional<std::string> prefix;
  std::optional<int> fixed_length;
};

/// "42", "step_42", "0042", "step_0042".
std::string FormatStepName(const StepNameFormat& format, int64_t step);
/// The step a directory name stands for under `format`, or none (temporary, trash, metadata and
/// other names are not steps). Padded and unpadded digits are both accepted.
std::optional<int64_t> ParseStepName(const StepNameFormat& format, std::string_view name);

}  // namespace cairn::manager
