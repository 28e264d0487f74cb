#!/usr/bin/env bash
# `meson install` gives consumers what they need: stages the install of BUILD_ROOT under a
# temporary DESTDIR, builds consumer.cc against the staged tree once with
# `pkg-config --cflags --libs cairn` and once with CMake's find_package(cairn), and runs each under
# mpiexec on NP ranks; each must print "OK NP ranks".
# Usage: install_test.sh MESON BUILD_ROOT PREFIX LIBDIR CXX NP [mpiexec args...]
#   PREFIX and LIBDIR are the configured (absolute) install directories.
set -euo pipefail
meson=$1 build_root=$2 prefix=$3 libdir=$4 cxx=$5 np=$6
shift 6
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

stage=$tmp/stage
"$meson" install -C "$build_root" --destdir "$stage" --quiet
staged_prefix=$stage$prefix
staged_libdir=$stage$libdir
# The installed library carries no rpath; the consumers find it (and nothing else) here.
export LD_LIBRARY_PATH=$staged_libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

for f in "$staged_prefix/include/cairn/checkpointer.h" "$staged_libdir/pkgconfig/cairn.pc" \
         "$staged_libdir/cmake/cairn/cairnConfig.cmake" \
         "$staged_libdir/cmake/cairn/cairnConfigVersion.cmake"; do
  [[ -f $f ]] || { echo "not installed: ${f#"$stage"}"; exit 1; }
done

run_consumer() {  # NAME EXECUTABLE [mpiexec args...]
  local name=$1 exe=$2 out
  shift 2
  out=$(mpiexec "$@" -n "$np" "$exe" "$tmp/ckpt-$name" 2>&1) ||
    { echo "$out"; echo "$name consumer failed"; exit 1; }
  grep -q "^OK $np ranks$" <<<"$out" || { echo "$out"; echo "$name consumer: no OK line"; exit 1; }
  echo "$name consumer: $(grep '^OK' <<<"$out")"
}

# (a) pkg-config. A .pc file names its configured prefix (unless built with
# -Dpkgconfig.relocatable=true); staging moved it under DESTDIR, so point a copy there. Only
# cairn's own prefix changes: --define-variable would move MPI's too.
pc_dir=$staged_libdir/pkgconfig
if grep -q '^prefix=/' "$pc_dir/cairn.pc"; then
  mkdir "$tmp/pc"
  sed "s|^prefix=/|prefix=$stage/|" "$pc_dir/cairn.pc" >"$tmp/pc/cairn.pc"
  pc_dir=$tmp/pc
fi
flags=$(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags --libs cairn)
echo "pkg-config --cflags --libs cairn: ${flags//$stage/<DESTDIR>}"
# shellcheck disable=SC2086  # the flags are words
"$cxx" -std=c++20 "$here/consumer.cc" $flags -o "$tmp/consumer-pc"
run_consumer pkg-config "$tmp/consumer-pc" "$@"

# (b) CMake find_package(cairn), from the staged prefix.
if ! command -v cmake >/dev/null; then
  echo "cmake is not installed (tools/dev installs it): the CMake package is untested"
  exit 77
fi
CXX=$cxx cmake -S "$here" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$staged_prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; exit 1; }
cmake --build "$tmp/cmake-build" >>"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; exit 1; }
run_consumer cmake "$tmp/cmake-build/consumer" "$@"
