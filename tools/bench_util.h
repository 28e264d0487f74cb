#pragma once
// Small pieces the programs under tools/ share: medians, a hash for fill patterns, the file
// system type and load average printed next to the figures, on/off and size option parsing.

#include <sys/vfs.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace cairn_tools {

/// Median of `v` (0 when empty).
inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// splitmix64's finaliser: a cheap, well-mixed pattern for fill values.
inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// The file system type of `dir` ("ext2/3/4", "tmpfs", "lustre", ... or the magic number).
inline std::string FsType(const std::filesystem::path& dir) {
  struct statfs s {};
  if (::statfs(dir.c_str(), &s) != 0) return "unknown";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0x01021994: return "tmpfs";
    case 0xEF53: return "ext2/3/4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x6969: return "nfs";
    case 0x0BD00BD0: return "lustre";
    case 0x47504653: return "gpfs";
    case 0x794c7630: return "overlayfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(s.f_type));
      return buf;
    }
  }
}

/// "<1 min> (1 min), <5 min> (5 min)" from /proc/loadavg: how busy the machine was.
inline std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string one, five;
  f >> one >> five;
  return one + " (1 min), " + five + " (5 min)";
}

/// on/true/1 or off/false/0; otherwise a program_options error naming --`name`.
inline bool ParseOnOff(const std::string& text, const char* name) {
  if (text == "on" || text == "true" || text == "1") return true;
  if (text == "off" || text == "false" || text == "0") return false;
  throw boost::program_options::error(std::string("--") + name + " takes on or off, got '" +
                                      text + "'");
}


// "1GiB", "512MiB", "1G" (binary), "100MB", "1e9" (decimal).
inline std::optional<int64_t> ParseSize(std::string text) {
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (...) {
    return std::nullopt;
  }
  std::string unit = text.substr(pos);
  std::transform(unit.begin(), unit.end(), unit.begin(), ::tolower);
  static const std::vector<std::pair<std::string, double>> kUnits = {
      {"", 1},         {"b", 1},      {"k", 0x1p10},   {"kib", 0x1p10}, {"m", 0x1p20},
      {"mib", 0x1p20}, {"g", 0x1p30}, {"gib", 0x1p30}, {"t", 0x1p40},   {"tib", 0x1p40},
      {"kb", 1e3},     {"mb", 1e6},   {"gb", 1e9},     {"tb", 1e12}};
  for (const auto& [name, mult] : kUnits) {
    if (unit == name && value > 0) return static_cast<int64_t>(value * mult);
  }
  return std::nullopt;
}

}  // namespace cairn_tools
