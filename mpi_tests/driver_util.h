#pragma once
// Helpers of the plain-main test drivers (preemption_driver, manager_kill_driver).

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace cairn::testing {

/// Writes this process's pid to `dir/pid.<rank>`, under a temporary name renamed into place, so
/// that a script never reads a partial pid.
inline bool WritePid(const std::filesystem::path& dir, int rank) {
  const std::filesystem::path tmp = dir / ("pid." + std::to_string(rank) + ".tmp");
  {
    std::ofstream out(tmp);
    out << getpid() << "\n";
    if (!out) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, dir / ("pid." + std::to_string(rank)), ec);
  return !ec;
}

}  // namespace cairn::testing
