// gpu-bench: what moving a checkpoint's bytes between host and GPU costs, at the current rank
// count, against a memcpy baseline measured in the same run.
//
//   mpirun -n N build/tools/gpu-bench [--mib 1024] [--runs 5] [--chunk-mib 64] [--no-mpi]
//
// Each rank uses CUDA device rank % devices. Rows (each the median of --runs timed runs after one
// untimed warm-up; with several ranks, per run the slowest rank's time):
//   memcpy            host to host (pageable, pre-touched), the baseline of the ratios
//   D2H pinned/pageable, H2D pinned/pageable
//                     one cudaMemcpy of --mib MiB between a device buffer and a host buffer
//                     (cudaHostAlloc'd or plain malloc, pre-touched)
//   nccl broadcast    the NCCL transport (comm/broadcast_transport.h) over a group of all ranks,
//                     device memory, in chunks of --chunk-mib; GB/s is the bytes each member
//                     receives per second (with 1 rank a 1-member group: nothing crosses a link)
//   mpi broadcast     the MPI transport over the same group, host memory, same chunks
// --no-mpi: no MPI_Init (for a machine without an MPI runtime); the group is the single-process
// communicator and the MPI row is left out. Rank 0 prints.

#include <cuda_runtime_api.h>
#include <mpi.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "cairn/cairn.hpp"
#include "cairn/mpi.h"
#include "cairn_config.h"
#include "comm/broadcast_transport.h"

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kMiB = size_t{1} << 20;

struct Options {
  int64_t mib = 1024;      // bytes moved per run, MiB
  int runs = 5;            // timed runs per row (median)
  int64_t chunk_mib = 64;  // chunk_bytes of the transports, MiB
  bool no_mpi = false;     // run without MPI_Init over the single-process communicator
};

struct Row {
  std::string name;
  double seconds = 0;  // median
  std::string note;
  bool skipped = false;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Median over runs of the slowest rank's time of `op` (one warm-up run first). Every rank calls
// it in the same order. An error on any rank ends the program on every rank.
double Time(cairn::Communicator& comm, int runs, const std::function<cairn::Status()>& op,
            const std::string& what) {
  std::vector<double> times;
  for (int r = -1; r < runs; ++r) {
    if (!comm.Barrier().ok()) std::abort();
    const auto start = Clock::now();
    cairn::Status st = op();
    const int64_t ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
    st = cairn::AgreeOnStatus(comm, st);
    if (!st.ok()) {
      if (comm.rank() == 0)
        std::fprintf(stderr, "gpu-bench: %s: %s\n", what.c_str(), st.ToString().c_str());
      std::exit(1);
    }
    std::vector<int64_t> slowest = {ns};
    if (!comm.AllReduceMax(slowest).ok()) std::abort();
    if (r >= 0) times.push_back(slowest[0] * 1e-9);
  }
  return Median(times);
}

cairn::Status CudaCheck(cudaError_t err, const std::string& what) {
  if (err == cudaSuccess) return cairn::OkStatus();
  return cairn::InternalError(what + ": " + cudaGetErrorString(err));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  po::options_description desc("gpu-bench options");
  desc.add_options()("help", "this text")("mib", po::value(&o.mib)->default_value(o.mib),
                                          "MiB moved per run")(
      "runs", po::value(&o.runs)->default_value(o.runs), "timed runs per row (median)")(
      "chunk-mib", po::value(&o.chunk_mib)->default_value(o.chunk_mib),
      "chunk_bytes of the broadcast transports, MiB")("no-mpi", po::bool_switch(&o.no_mpi),
                                                      "no MPI_Init: single-process communicator");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "gpu-bench: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (o.mib <= 0 || o.runs <= 0 || o.chunk_mib <= 0) {
    std::cerr << "gpu-bench: --mib, --runs and --chunk-mib must be > 0\n";
    return 2;
  }

  std::shared_ptr<cairn::Communicator> comm;
  if (o.no_mpi) {
    comm = cairn::SelfCommunicator();
  } else {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    auto c = cairn::MpiCommunicator(MPI_COMM_WORLD);
    if (!c.ok()) {
      std::fprintf(stderr, "gpu-bench: %s\n", c.status().ToString().c_str());
      return 1;
    }
    comm = *c;
  }
  const int rank = comm->rank(), size = comm->size();
  const size_t n = static_cast<size_t>(o.mib) * kMiB;
  const size_t chunk = static_cast<size_t>(o.chunk_mib) * kMiB;
  const double gb = static_cast<double>(n) / 1e9;
  std::vector<Row> rows;

  // The baseline: host to host.
  std::vector<char> src(n, 1), dst(n, 2);
  rows.push_back({"memcpy host->host (pageable)", Time(
                                                      *comm, o.runs,
                                                      [&] {
                                                        std::memcpy(dst.data(), src.data(), n);
                                                        return cairn::OkStatus();
                                                      },
                                                      "memcpy")});

  int devices = 0;
  std::string no_gpu;
  if (cudaError_t err = cudaGetDeviceCount(&devices); err != cudaSuccess || devices == 0) {
    cudaGetLastError();
    no_gpu = err != cudaSuccess ? std::string("no CUDA device (") + cudaGetErrorString(err) + ")"
                                : std::string("no CUDA device");
    devices = 0;
  }
  std::vector<int64_t> min_devices = {devices};
  if (!comm->AllReduceMin(min_devices).ok()) return 1;
  std::string device_name;
  if (min_devices[0] > 0) {
    const int device = rank % devices;
    if (cudaSetDevice(device) != cudaSuccess) return 1;
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, device);
    device_name = prop.name;
    void* dev = nullptr;
    void* pinned = nullptr;
    if (cudaMalloc(&dev, n) != cudaSuccess || cudaHostAlloc(&pinned, n, 0) != cudaSuccess) {
      std::fprintf(stderr,
                   "gpu-bench: rank %d: cannot allocate %zu bytes of device/pinned "
                   "memory\n",
                   rank, n);
      return 1;
    }
    std::memset(pinned, 3, n);
    if (cudaMemset(dev, 4, n) != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess) return 1;
    struct Copy {
      const char* name;
      void* d;
      void* s;
      cudaMemcpyKind kind;
    };
    const Copy copies[] = {
        {"D2H pinned (cudaMemcpy)", pinned, dev, cudaMemcpyDeviceToHost},
        {"D2H pageable (cudaMemcpy)", dst.data(), dev, cudaMemcpyDeviceToHost},
        {"H2D pinned (cudaMemcpy)", dev, pinned, cudaMemcpyHostToDevice},
        {"H2D pageable (cudaMemcpy)", dev, src.data(), cudaMemcpyHostToDevice},
    };
    for (const Copy& c : copies) {
      rows.push_back(
          {c.name,
           Time(
               *comm, o.runs, [&] { return CudaCheck(cudaMemcpy(c.d, c.s, n, c.kind), c.name); },
               c.name)});
    }
    const std::string group_note = size == 1
                                       ? "1-member group: no link crossed, not a transfer rate"
                                       : std::to_string(size) + "-member group, root 0";
    if (size > devices) {
      rows.push_back({"nccl broadcast (device)", 0,
                      std::to_string(size) + " ranks share " + std::to_string(devices) +
                          " GPU(s): NCCL needs one per rank",
                      true});
    } else {
      auto t = cairn::comm::MakeNcclTransport(comm, device);
      if (!t.ok()) {
        rows.push_back({"nccl broadcast (device)", 0, t.status().ToString(), true});
      } else {
        rows.push_back({"nccl broadcast (device)",
                        Time(
                            *comm, o.runs, [&] { return (*t)->Broadcast(dev, n, 0, chunk); },
                            "nccl broadcast"),
                        group_note});
      }
    }
    cudaFreeHost(pinned);
    cudaFree(dev);
  } else {
    for (const char* name :
         {"D2H pinned (cudaMemcpy)", "D2H pageable (cudaMemcpy)", "H2D pinned (cudaMemcpy)",
          "H2D pageable (cudaMemcpy)", "nccl broadcast (device)"}) {
      rows.push_back({name, 0, no_gpu.empty() ? "a rank has no CUDA device" : no_gpu, true});
    }
  }

  if (o.no_mpi) {
    rows.push_back({"mpi broadcast (host)", 0, "--no-mpi: no MPI runtime", true});
  } else {
    auto t = cairn::comm::MakeMpiTransport(comm);
    if (!t.ok()) return 1;
    rows.push_back({"mpi broadcast (host)",
                    Time(
                        *comm, o.runs, [&] { return (*t)->Broadcast(dst.data(), n, 0, chunk); },
                        "mpi broadcast"),
                    size == 1 ? "1-member group: MPI_Bcast returns at once, not a transfer rate"
                              : std::to_string(size) + "-member group, root 0"});
  }

  if (rank == 0) {
    std::printf(
        "gpu-bench: %d rank(s), %s, %lld MiB per run, median of %d runs (+1 warm-up), "
        "transport chunks of %lld MiB\n",
        size, device_name.empty() ? "no GPU" : device_name.c_str(), static_cast<long long>(o.mib),
        o.runs, static_cast<long long>(o.chunk_mib));
    const double base = rows[0].seconds;
    std::printf("%-30s %12s %10s %10s  %s\n", "operation", "median ms", "GB/s", "x memcpy", "note");
    for (const Row& r : rows) {
      if (r.skipped) {
        std::printf("%-30s %12s %10s %10s  skipped: %s\n", r.name.c_str(), "-", "-", "-",
                    r.note.c_str());
        continue;
      }
      // x memcpy: this operation's rate over the memcpy baseline's (above 1 is faster).
      std::printf("%-30s %12.3f %10.2f %10.2f  %s\n", r.name.c_str(), r.seconds * 1e3,
                  gb / r.seconds, base / r.seconds, r.note.c_str());
    }
  }
  comm.reset();
  if (!o.no_mpi) MPI_Finalize();
  return 0;
}
