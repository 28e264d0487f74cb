// heat2d: 2-D heat diffusion that checkpoints with cairn and restarts on any number of ranks.
//
//   # stops after step 130, as if killed; leaves checkpoints ckpt/20, ckpt/40, ..., ckpt/120
//   mpirun -n 4 heat2d --nx 97 --ny 61 --steps 200 --every 20 --dir ckpt --stop-after 130
//   # restores step 120 onto 2 ranks and runs to step 200
//   mpirun -n 2 heat2d --nx 97 --ny 61 --steps 200 --every 20 --dir ckpt --out final.f64
//
// The temperature is an NX x NY array of float64. Each rank owns one block of a 2-D process grid
// and tells cairn which box of the global array that block is; cairn stores the global array, so
// a restart may cut it into different blocks. Checkpoint `<dir>/<step>` holds the tree
//   {"field": the temperature, "step": int64, "meta": {"nx", "ny", "alpha"}}.
// The update of a point only reads its neighbours' values, so the result is the same, bit for
// bit, whatever the decomposition and however often the run was interrupted.

#include <mpi.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cairn/checkpointer.h"
#include "cairn/metadata.h"
#include "cairn/mpi.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

constexpr double kAlpha = 0.2;  // diffusion number: the explicit scheme is stable up to 0.25

struct Options {
  int64_t nx = 256, ny = 256, steps = 1000, every = 100;
  std::optional<int64_t> stop_after;
  fs::path dir = "heat2d-ckpt";
  std::string out;
};

// This rank's block: the owned points plus one halo row/column on every side.
struct Block {
  int64_t x0 = 0, y0 = 0, lx = 0, ly = 0;  // global origin and extent of the owned points
  int up = MPI_PROC_NULL, down = MPI_PROC_NULL, left = MPI_PROC_NULL, right = MPI_PROC_NULL;
  std::vector<double> u, next;  // (lx + 2) x (ly + 2), row-major, halos included
  // Owned point (i, j), 0 <= i < lx, 0 <= j < ly; -1 and lx / ly are the halos.
  double& at(int64_t i, int64_t j) { return u[(i + 1) * (ly + 2) + (j + 1)]; }
};

// The first n % parts parts get one point more, so any n works (97 x 61 on 4 ranks, say).
void Split(int64_t n, int parts, int part, int64_t& start, int64_t& size) {
  const int64_t base = n / parts, extra = n % parts;
  start = part * base + std::min<int64_t>(part, extra);
  size = base + (part < extra ? 1 : 0);
}

bool OnBoundary(int64_t gx, int64_t gy, const Options& o) {
  return gx == 0 || gy == 0 || gx == o.nx - 1 || gy == o.ny - 1;
}

// A warm edge at y = 0 (held fixed, like the rest of the boundary) and a hot square inside.
double InitialTemperature(int64_t gx, int64_t gy, const Options& o) {
  if (gy == 0) return 1.0;
  if (std::abs(gx - o.nx / 3) <= o.nx / 10 && std::abs(gy - o.ny / 2) <= o.ny / 10) return 10.0;
  return 0.0;
}

// Rows are contiguous; columns are strided, described once by `column`.
void ExchangeHalos(Block& b, MPI_Comm cart, MPI_Datatype column) {
  const int64_t w = b.ly + 2;
  double* u = b.u.data();
  const int ly = static_cast<int>(b.ly);
  MPI_Sendrecv(&u[1 * w + 1], ly, MPI_DOUBLE, b.up, 0, &u[(b.lx + 1) * w + 1], ly, MPI_DOUBLE,
               b.down, 0, cart, MPI_STATUS_IGNORE);
  MPI_Sendrecv(&u[b.lx * w + 1], ly, MPI_DOUBLE, b.down, 1, &u[0 * w + 1], ly, MPI_DOUBLE, b.up, 1,
               cart, MPI_STATUS_IGNORE);
  MPI_Sendrecv(&u[1 * w + 1], 1, column, b.left, 2, &u[1 * w + b.ly + 1], 1, column, b.right, 2,
               cart, MPI_STATUS_IGNORE);
  MPI_Sendrecv(&u[1 * w + b.ly], 1, column, b.right, 3, &u[1 * w + 0], 1, column, b.left, 3, cart,
               MPI_STATUS_IGNORE);
}

// One explicit step of the 5-point stencil; boundary points keep their values.
void Step(Block& b, const Options& o) {
  const int64_t w = b.ly + 2;
  for (int64_t i = 0; i < b.lx; ++i) {
    for (int64_t j = 0; j < b.ly; ++j) {
      const double c = b.at(i, j);
      double& out = b.next[(i + 1) * w + (j + 1)];
      if (OnBoundary(b.x0 + i, b.y0 + j, o)) {
        out = c;
      } else {
        out = c + kAlpha *
                      (b.at(i - 1, j) + b.at(i + 1, j) + b.at(i, j - 1) + b.at(i, j + 1) - 4.0 * c);
      }
    }
  }
  std::swap(b.u, b.next);
}

// cairn reads and writes a piece as dense C-order elements, so the owned points (without halos)
// are copied to and from `packed` around each save and restore.
void Pack(Block& b, std::vector<double>& packed) {
  for (int64_t i = 0; i < b.lx; ++i)
    for (int64_t j = 0; j < b.ly; ++j) packed[i * b.ly + j] = b.at(i, j);
}
void Unpack(const std::vector<double>& packed, Block& b) {
  for (int64_t i = 0; i < b.lx; ++i)
    for (int64_t j = 0; j < b.ly; ++j) b.at(i, j) = packed[i * b.ly + j];
}

// The checkpoint tree. Every rank describes the same global array and the one box it holds;
// `packed` must stay alive and unmoved while the tree is in use.
cairn::Tree MakeState(const Block& b, const Options& o, std::vector<double>& packed, int64_t step) {
  cairn::Tree state;
  state["field"] = cairn::DistributedArray{
      .dtype = cairn::DType::kFloat64,
      .global_shape = {o.nx, o.ny},
      .pieces = {{.box = {.origin = {b.x0, b.y0}, .shape = {b.lx, b.ly}}, .data = packed.data()}}};
  state["step"] = cairn::Scalar(step);
  state["meta"] = cairn::Tree::Json({{"nx", o.nx}, {"ny", o.ny}, {"alpha", kAlpha}});
  return state;
}

// The newest committed checkpoint under `dir`, or -1. A save that was killed leaves a
// `<step>.cairn-tmp-<id>` directory behind: not an integer name, and never committed.
int64_t LatestStep(const fs::path& dir) {
  int64_t latest = -1;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool is_integer =
        !name.empty() && name.size() < 19 &&
        std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isdigit(c); });
    if (is_integer && cairn::IsCommittedCheckpoint(entry.path())) {
      latest = std::max<int64_t>(latest, std::stoll(name));
    }
  }
  return latest;
}

// Rank 0 gathers every block and writes the global field as raw float64, row-major NX x NY.
int WriteField(const Block& b, const Options& o, const std::vector<double>& packed, int rank,
               int size) {
  const int64_t box[4] = {b.x0, b.y0, b.lx, b.ly};
  std::vector<int64_t> boxes(rank == 0 ? 4 * size : 0);
  MPI_Gather(box, 4, MPI_INT64_T, boxes.data(), 4, MPI_INT64_T, 0, MPI_COMM_WORLD);
  std::vector<int> counts(size), displs(size);
  int64_t total = 0;
  for (int r = 0; rank == 0 && r < size; ++r) {
    counts[r] = static_cast<int>(boxes[4 * r + 2] * boxes[4 * r + 3]);
    displs[r] = static_cast<int>(total);
    total += counts[r];
  }
  std::vector<double> blocks(total);
  MPI_Gatherv(packed.data(), static_cast<int>(packed.size()), MPI_DOUBLE, blocks.data(),
              counts.data(), displs.data(), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  if (rank != 0) return 0;
  std::vector<double> field(o.nx * o.ny);
  for (int r = 0; r < size; ++r) {
    const int64_t* rb = &boxes[4 * r];
    for (int64_t i = 0; i < rb[2]; ++i)
      for (int64_t j = 0; j < rb[3]; ++j)
        field[(rb[0] + i) * o.ny + rb[1] + j] = blocks[displs[r] + i * rb[3] + j];
  }
  std::ofstream f(o.out, std::ios::binary);
  f.write(reinterpret_cast<const char*>(field.data()), field.size() * sizeof(double));
  if (!f) {
    std::fprintf(stderr, "heat2d: cannot write %s\n", o.out.c_str());
    return 1;
  }
  return 0;
}

// cairn's calls are collective and return the same Status on every rank, so every rank can stop
// cleanly on an error (no MPI_Abort); rank 0 reports it.
int Fail(int rank, const std::string& what, const cairn::Status& status) {
  if (rank == 0) std::fprintf(stderr, "heat2d: %s: %s\n", what.c_str(), status.ToString().c_str());
  return 1;
}

int Run(int argc, char** argv) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  Options o;
  po::options_description desc("heat2d options");
  // clang-format off
  desc.add_options()("help", "show this help")
      ("nx", po::value(&o.nx)->default_value(o.nx), "global grid points along x")
      ("ny", po::value(&o.ny)->default_value(o.ny), "global grid points along y")
      ("steps", po::value(&o.steps)->default_value(o.steps), "last time step")
      ("every", po::value(&o.every)->default_value(o.every), "checkpoint every N steps")
      ("dir", po::value(&o.dir)->default_value(o.dir), "checkpoint directory")
      ("stop-after", po::value<int64_t>(), "exit right after step K (simulates a kill)")
      ("out", po::value(&o.out), "rank 0 writes the final field here (raw float64)");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    if (rank == 0) std::cerr << "heat2d: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help")) {
    if (rank == 0) std::cout << desc;
    return 0;
  }
  if (vm.count("stop-after")) o.stop_after = vm["stop-after"].as<int64_t>();

  // A 2-D process grid; non-periodic, so the domain edges see MPI_PROC_NULL neighbours.
  int dims[2] = {0, 0}, periods[2] = {0, 0}, coords[2];
  MPI_Dims_create(size, 2, dims);
  if (o.nx < std::max(dims[0], 3) || o.ny < std::max(dims[1], 3) || o.every < 1) {
    if (rank == 0)
      std::fprintf(stderr, "heat2d: grid too small for %dx%d ranks\n", dims[0], dims[1]);
    return 2;
  }
  MPI_Comm cart;
  MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, /*reorder=*/0, &cart);
  MPI_Cart_coords(cart, rank, 2, coords);
  Block b;
  Split(o.nx, dims[0], coords[0], b.x0, b.lx);
  Split(o.ny, dims[1], coords[1], b.y0, b.ly);
  MPI_Cart_shift(cart, 0, 1, &b.up, &b.down);
  MPI_Cart_shift(cart, 1, 1, &b.left, &b.right);
  b.u.assign((b.lx + 2) * (b.ly + 2), 0.0);
  b.next = b.u;
  MPI_Datatype column;
  MPI_Type_vector(static_cast<int>(b.lx), 1, static_cast<int>(b.ly + 2), MPI_DOUBLE, &column);
  MPI_Type_commit(&column);
  std::vector<double> packed(b.lx * b.ly);

  auto comm = cairn::MpiCommunicator(MPI_COMM_WORLD);
  if (!comm.ok()) return Fail(rank, "MpiCommunicator", comm.status());
  auto checkpointer = cairn::Checkpointer::Create(*comm);
  if (!checkpointer.ok()) return Fail(rank, "Checkpointer::Create", checkpointer.status());

  // Restart from the newest committed checkpoint, whatever rank count wrote it: each rank asks
  // for its own box and cairn reads it from the stored pieces that overlap it.
  int64_t latest = rank == 0 ? LatestStep(o.dir) : -1;
  MPI_Bcast(&latest, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
  int64_t step = 0;
  if (latest >= 0) {
    const fs::path path = o.dir / std::to_string(latest);
    cairn::Tree state = MakeState(b, o, packed, 0);
    auto restored = checkpointer->Restore(path, state);
    if (!restored.ok()) return Fail(rank, "restore " + path.string(), restored.status());
    step = std::get<cairn::Scalar>(state["step"].leaf()).as<int64_t>();
    Unpack(packed, b);
    if (rank == 0)
      std::printf("restored step %lld from %s on %d ranks (%dx%d)\n", static_cast<long long>(step),
                  path.c_str(), size, dims[0], dims[1]);
  } else {
    for (int64_t i = 0; i < b.lx; ++i)
      for (int64_t j = 0; j < b.ly; ++j) b.at(i, j) = InitialTemperature(b.x0 + i, b.y0 + j, o);
  }

  while (step < o.steps) {
    ExchangeHalos(b, cart, column);
    Step(b, o);
    ++step;
    if (step % o.every == 0) {
      Pack(b, packed);
      const fs::path path = o.dir / std::to_string(step);
      cairn::Status saved = checkpointer->Save(path, MakeState(b, o, packed, step));
      if (!saved.ok()) return Fail(rank, "save " + path.string(), saved);
      if (rank == 0)
        std::printf("step %lld: saved %s\n", static_cast<long long>(step), path.c_str());
    }
    if (o.stop_after && step == *o.stop_after) break;
  }
  MPI_Type_free(&column);
  MPI_Comm_free(&cart);
  if (step < o.steps) {
    if (rank == 0) std::printf("stopping after step %lld\n", static_cast<long long>(step));
    return 0;
  }
  if (o.out.empty()) return 0;
  Pack(b, packed);
  return WriteField(b, o, packed, rank, size);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const int rc = Run(argc, argv);  // cairn's communicator is released inside, before finalize
  MPI_Finalize();
  return rc;
}
