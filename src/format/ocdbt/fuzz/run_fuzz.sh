#!/bin/sh
# Builds the OCDBT libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined) and runs
# each for FUZZ_SECONDS (default 8) on the testdata seed corpus, two at a time.
# Usage: run_fuzz.sh <source root> <work dir> <testdata dir>. Exit 77 (skip) without clang or
# libFuzzer. A crash, leak, sanitizer report or unexpected status code fails the test; the
# crashing input is left in <work dir>/<target>/.
set -u
src_root=$1
work=$2
testdata=$3
seconds=${FUZZ_SECONDS:-8}
cxx=${FUZZ_CXX:-clang++}

if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "SKIP: $cxx not found (set FUZZ_CXX)"; exit 77
fi
mkdir -p "$work"
src_root=$(cd "$src_root" && pwd); work=$(cd "$work" && pwd); testdata=$(cd "$testdata" && pwd)
probe="$work/probe.cc"
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > "$probe"
if ! "$cxx" -fsanitize=fuzzer "$probe" -o "$work/probe" >/dev/null 2>&1; then
  echo "SKIP: $cxx cannot link -fsanitize=fuzzer (libFuzzer missing)"; exit 77
fi

flags="-std=c++20 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
  -I$src_root/include -I$src_root/src"
ocdbt=$src_root/src/format/ocdbt
common="$ocdbt/byte_reader.cc $ocdbt/envelope.cc $ocdbt/data_file_table.cc $ocdbt/version_tree.cc
  $ocdbt/manifest.cc $ocdbt/btree.cc $ocdbt/shard_index.cc $ocdbt/zarr_metadata.cc
  $src_root/src/base/status.cc $src_root/src/base/dtype.cc $src_root/src/base/convert.cc"

# Compile the shared objects once (rebuilt when any source is newer than the archive).
lib="$work/libocdbt_fuzz.a"
rebuild=0
[ -f "$lib" ] || rebuild=1
for f in $common $ocdbt/*.h; do [ "$f" -nt "$lib" ] && rebuild=1; done
if [ $rebuild = 1 ]; then
  rm -f "$lib" "$work"/*.o
  pids=""
  for f in $common; do
    o="$work/$(basename "$f" .cc).o"
    $cxx $flags -c "$f" -o "$o" & pids="$pids $!"
  done
  for p in $pids; do wait "$p" || { echo "FAIL: compiling the decoders"; exit 1; }; done
  ar rcs "$lib" "$work"/*.o
fi

run_target() {  # name seed-dir
  name=$1; seeds=$testdata/seeds/$2
  dir="$work/$name"; mkdir -p "$dir/corpus"
  if [ ! -x "$dir/fuzzer" ] || [ "$ocdbt/fuzz/fuzz_$name.cc" -nt "$dir/fuzzer" ] || [ "$lib" -nt "$dir/fuzzer" ]; then
    $cxx $flags -fsanitize=fuzzer "$ocdbt/fuzz/fuzz_$name.cc" "$lib" -lzstd -o "$dir/fuzzer" ||
      { echo "FAIL: building fuzz_$name"; return 1; }
  fi
  (cd "$dir" && ./fuzzer -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 corpus "$seeds" > log.txt 2>&1)
  rc=$?
  tail -n 3 "$dir/log.txt" | sed "s/^/[$name] /"
  grep -E "stat::number_of_executed_units" "$dir/log.txt" | sed "s/^/[$name] /"
  if [ $rc != 0 ]; then echo "FAIL: fuzz_$name (see $dir/log.txt)"; return 1; fi
  return 0
}

status=0
run_target manifest manifest & p1=$!
run_target btree btree & p2=$!
wait $p1 || status=1; wait $p2 || status=1
run_target version_tree version_tree & p1=$!
run_target shard_index shard & p2=$!
wait $p1 || status=1; wait $p2 || status=1
run_target zarr_json zarr_json || status=1
exit $status
