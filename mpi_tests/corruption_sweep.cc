// Flips bytes all over a checkpoint's data file, one position at a time: every restore either
// returns the original values or an error; never wrong data, never a crash.
// Usage: corruption_sweep DIR BACKEND POSITIONS
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cairn/cairn.hpp"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  if (argc < 4) return 2;
  namespace fs = std::filesystem;
  const fs::path dir = argv[1];
  const std::string backend = argv[2];
  const int positions = std::atoi(argv[3]);
  auto ckpt = cairn::Checkpointer::Create(cairn::SelfCommunicator());
  std::vector<double> data(4096);
  for (size_t i = 0; i < data.size(); ++i) data[i] = std::sin(0.1 * i) * 1e3;
  int failures = 0, errors = 0, clean = 0;
  for (bool compression : {false, true}) {
    const fs::path path = dir / (compression ? "z" : "raw");
    cairn::Tree tree;
    tree["model"]["w"] =
        cairn::DistributedArray::Replicated(cairn::DType::kFloat64, {64, 64}, data.data());
    cairn::SaveOptions o;
    o.backend = backend;
    o.array.use_compression = compression;
    o.array.storage_options.chunk_byte_size = 8192;
    if (auto st = ckpt->Save(path, tree, o); !st.ok()) {
      std::fprintf(stderr, "save: %s\n", st.ToString().c_str());
      return 1;
    }
    // cairn's metadata (the ocdbt backend keeps it in _CAIRN_METADATA, beside Orbax's), then
    // every data file, in subdirectories too (ocdbt: d/, ocdbt.process_<rank>/d/).
    const fs::path cairn_meta = path / "default" / "_CAIRN_METADATA";
    std::vector<fs::path> files = {fs::exists(cairn_meta) ? cairn_meta
                                                          : path / "default" / "_METADATA"};
    for (const auto& e : fs::recursive_directory_iterator(path / "default")) {
      if (e.is_regular_file() && e.path().filename().string()[0] != '_') {
        files.push_back(e.path());
      }
    }
    for (const fs::path& file : files) {
      std::string original;
      {
        std::ifstream in(file, std::ios::binary);
        original.assign(std::istreambuf_iterator<char>(in), {});
      }
      for (int k = 0; k < positions; ++k) {
        const size_t pos = (original.size() * k) / positions;
        std::string bytes = original;
        bytes[pos] = static_cast<char>(bytes[pos] ^ 0xa5);  // also makes invalid UTF-8 in JSON
        std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
        std::vector<double> out(4096, -1);
        cairn::Tree target;
        target["model"]["w"] =
            cairn::DistributedArray::Replicated(cairn::DType::kFloat64, {64, 64}, out.data());
        auto r = ckpt->Restore(path, target);
        if (r.ok()) {
          if (std::memcmp(out.data(), data.data(), data.size() * 8) != 0) {
            std::fprintf(stderr, "WRONG DATA without error: flip at byte %zu of %s\n", pos,
                         file.c_str());
            ++failures;
          } else {
            ++clean;
          }
        } else {
          ++errors;
          if (r.status().message().find(path.string()) == std::string::npos) {
            std::fprintf(stderr, "error does not name the checkpoint: %s\n",
                         r.status().ToString().c_str());
            ++failures;
          }
        }
      }
      std::ofstream(file, std::ios::binary | std::ios::trunc) << original;
    }
  }
  std::printf("%d flips: %d detected as errors, %d harmless (correct data), %d failures\n",
              errors + clean, errors, clean, failures);
  MPI_Finalize();
  return failures ? 1 : 0;
}
