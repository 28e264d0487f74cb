#include "storage/hdf5/hdf5_backend.h"

#include "storage/hdf5/hdf5_io.h"

namespace cairn::storage {
namespace {

class Hdf5Backend final : public Backend {
 public:
  std::string_view name() const override { return "hdf5"; }

  Result<std::vector<std::vector<nlohmann::json>>> Write(
      const BackendContext& ctx, std::span<const WriteLeaf> leaves) override {
    return hdf5::WriteItem(ctx, leaves);
  }

  Status Read(const BackendContext& ctx, std::span<const ReadLeaf> leaves) override {
    return hdf5::ReadItem(ctx, leaves);
  }
};

}  // namespace

namespace hdf5 {

std::recursive_mutex& Hdf5Mutex() {
  static std::recursive_mutex mu;
  return mu;
}

}  // namespace hdf5

std::unique_ptr<Backend> MakeHdf5Backend() { return std::make_unique<Hdf5Backend>(); }

}  // namespace cairn::storage
