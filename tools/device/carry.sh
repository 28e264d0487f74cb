#!/bin/bash
# Assembles .devcarry/ (ignored by git) for the `device` tool's machine, which has a CUDA driver
# and Python with pip NCCL, but no Open MPI, HDF5 or cairn: the given programs from a build
# directory, libcairn.so, every shared library they load (ldd) except glibc, the C++ runtime,
# libcuda and libnccl (too big; the pip copy there is used), and Open MPI's plugins, so that the
# programs run there as single-rank MPI singletons. Then, on that machine:
#   run(command="bash tools/device/run.sh PROGRAM [ARGS...]", carry=[".devcarry"])
# Usage: tools/device/carry.sh BUILD_DIR PROGRAM...   (paths relative to BUILD_DIR)
#   e.g. tools/device/carry.sh build mpi_tests/multihost_test mpi_tests/async_test tools/gpu-bench
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$1; shift
out=.devcarry
grep -qx '/.devcarry/' .git/info/exclude 2>/dev/null || echo '/.devcarry/' >> .git/info/exclude
rm -rf "$out/bin" "$out/lib" "$out/ompi"
mkdir -p "$out/bin" "$out/lib" "$out/ompi"
skip='^(libc|libm|libdl|librt|libpthread|ld-linux.*|libstdc\+\+|libgcc_s|libcuda|libnccl)\.so'
copy_deps() {  # copy_deps FILE: the libraries FILE needs, into lib/
  ldd "$1" | awk '/=> \//{print $3}' | while read -r lib; do
    name=$(basename "$lib")
    [[ $name =~ $skip ]] && continue
    [[ -e $out/lib/$name ]] || cp -L "$lib" "$out/lib/$name"
  done
}
for prog in "$@"; do
  cp "$build/$prog" "$out/bin/"
  strip --strip-debug "$out/bin/$(basename "$prog")"
  copy_deps "$build/$prog"
done
cp -L "$build/src/libcairn.so" "$out/lib/libcairn.so"
strip --strip-debug "$out/lib/libcairn.so"
# Open MPI's components (dlopened by MPI_Init), with the libraries they need when present here.
plugins=$(ompi_info --path pkglibdir 2>/dev/null | awk '{print $2}' || true)
if [[ -d $plugins ]]; then
  mkdir -p "$out/ompi/openmpi3"
  for so in "$plugins"/*.so; do
    ldd "$so" 2>/dev/null | grep -q 'not found' && continue
    cp -L "$so" "$out/ompi/openmpi3/"
    copy_deps "$so"
  done
fi
du -sh "$out"
