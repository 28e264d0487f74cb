#!/usr/bin/env bash
# Scaling sweep: cairn-bench over rank counts x state sizes x backends x sync/async x compression,
# each configuration next to its raw write()+fsync / read() baseline. Writes into OUT:
#   runs/<backend>-<mode>-zstd_<c>-<size>-np<n>.{json,txt,log}  one cairn-bench run each
#   results.json   every configuration's JSON in one list
#   summary.md     a markdown table of the medians and cairn/baseline ratios
#   scaling_throughput.png, scaling_blocking.png   (tools/plot_scaling.py; skipped without
#                  matplotlib, saying so)
#
#   tools/bench_sweep.sh [--ranks "1 2 4"] [--sizes "64MiB 256MiB 1GiB"]
#       [--backends "hdf5 reference"] [--modes "sync async"] [--compression "off"]
#       [--runs 3] [--warmup 1] [--out DIR] [--] [more cairn-bench args...]
#
# On a cluster, inside an allocation (salloc/sbatch), with the output on the parallel file system:
#   LAUNCHER="srun --mpi=pmix" tools/bench_sweep.sh --ranks "64 128 256" --sizes "16GiB 64GiB" \
#       -- --dir /lustre/$USER/cairn-bench
#
# A backend this build lacks (`cairn-bench --check-backend NAME`) is skipped with the reason. A
# configuration that fails is reported and the sweep goes on; the exit status is then 1.
# --warmup 1 (the default) keeps the first save, which also fills the async staging pool, out
# of the medians. The arguments after `--` go to every cairn-bench run; they must not repeat the
# ones the sweep sets (--size --backend --mode --compression --runs --warmup --json).
#
# Environment:
#   CAIRN_BUILD_DIR  build directory under the source root (default: build)
#   CAIRN_BENCH      the cairn-bench program itself (default: $CAIRN_BUILD_DIR/tools/cairn-bench)
#   LAUNCHER         launcher command, given `-n N` (default: mpirun; with Open MPI it gets
#                    --oversubscribe, and --allow-run-as-root when run as root)
#   MPIRUN_ARGS      extra launcher arguments (e.g. "--bind-to none", "--mca io romio321")
#   PYTHON           interpreter for tools/plot_scaling.py (default: /usr/bin/python3)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="${CAIRN_BENCH:-$ROOT/${CAIRN_BUILD_DIR:-build}/tools/cairn-bench}"
RANKS="1 2 4"
SIZES="64MiB 256MiB 1GiB"
BACKENDS="hdf5 reference"
MODES="sync async"
COMPRESSION="off"
RUNS=3
WARMUP=1
OUT="bench-$(date +%Y%m%d-%H%M%S)"
usage() { sed -n '2,32s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
die() { echo "bench_sweep.sh: $*" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --ranks) RANKS="$2"; shift 2 ;;
    --sizes) SIZES="$2"; shift 2 ;;
    --backends) BACKENDS="$2"; shift 2 ;;
    --modes) MODES="$2"; shift 2 ;;
    --compression) COMPRESSION="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (cairn-bench arguments go after --)" ;;
  esac
done
for a in "$@"; do
  case "$a" in
    --size | --size=* | --backend | --backend=* | --mode | --mode=* | --compression | \
      --compression=* | --runs | --runs=* | --warmup | --warmup=* | --json | --json=*)
      die "'$a' after -- is set by the sweep itself; use the sweep's option" ;;
  esac
done
for m in $MODES; do
  [[ $m == sync || $m == async ]] || die "--modes takes sync and/or async, got '$m'"
done
for c in $COMPRESSION; do
  [[ $c == on || $c == off ]] || die "--compression takes on and/or off, got '$c'"
done
[[ -x $BENCH ]] || die "no $BENCH (build first, or set CAIRN_BUILD_DIR)"
PYTHON="${PYTHON:-/usr/bin/python3}"
[[ -x $PYTHON ]] || PYTHON=python3

# The launcher. Open MPI's mpirun refuses root and more ranks than cores unless told.
# shellcheck disable=SC2206
LAUNCH=(${LAUNCHER:-mpirun})
# shellcheck disable=SC2206
EXTRA=(${MPIRUN_ARGS:-})
if [[ $(basename "${LAUNCH[0]}") == mpirun || $(basename "${LAUNCH[0]}") == mpiexec ]] &&
  "${LAUNCH[0]}" --version 2>&1 | grep -q 'Open MPI'; then
  want=(--oversubscribe)
  [[ $(id -u) -ne 0 ]] || want+=(--allow-run-as-root)
  for f in "${want[@]}"; do
    [[ " ${EXTRA[*]} " == *" $f "* ]] || LAUNCH+=("$f")
  done
fi
LAUNCH+=("${EXTRA[@]}")

# Backends: keep the ones this build can make, say why the others are left out.
USABLE=()
for b in $BACKENDS; do
  if why=$("$BENCH" --check-backend "$b" 2>&1); then
    USABLE+=("$b")
  else
    echo "bench_sweep.sh: skipping backend $why" >&2
  fi
done
((${#USABLE[@]})) || die "none of the backends '$BACKENDS' is usable in $BENCH"

mkdir -p "$OUT/runs"
echo "== sweep into $OUT: ranks [$RANKS] sizes [$SIZES] backends [${USABLE[*]}] modes [$MODES]" \
  "compression [$COMPRESSION] runs $RUNS warmup $WARMUP; launcher: ${LAUNCH[*]} -n N"
failed=0 total=0 start=$SECONDS
for c in $COMPRESSION; do
  for b in "${USABLE[@]}"; do
    for m in $MODES; do
      for s in $SIZES; do
        for n in $RANKS; do
          tag="$b-$m-zstd_$c-$s-np$n"
          total=$((total + 1))
          cmd=("${LAUNCH[@]}" -n "$n" "$BENCH" --size "$s" --backend "$b" --mode "$m"
            --compression "$c" --runs "$RUNS" --warmup "$WARMUP" --json "$OUT/runs/$tag.json" "$@")
          echo "== [$((SECONDS - start))s] ${cmd[*]}"
          rm -f "$OUT/runs/$tag.json"
          if "${cmd[@]}" >"$OUT/runs/$tag.txt" 2>"$OUT/runs/$tag.log" &&
            [[ -s $OUT/runs/$tag.json ]]; then
            sed -n '/phase/,$p' "$OUT/runs/$tag.txt"
          else
            failed=$((failed + 1))
            echo "!! $tag FAILED; the last lines of $OUT/runs/$tag.log:" >&2
            tail -n 5 "$OUT/runs/$tag.log" >&2 || true
            rm -f "$OUT/runs/$tag.json"
          fi
        done
      done
    done
  done
done
echo "== $((total - failed)) of $total configuration(s) done in $((SECONDS - start))s"

# results.json + summary.md, then the plots (or a note that they were skipped).
"$PYTHON" "$ROOT/tools/plot_scaling.py" "$OUT"
((failed == 0)) || { echo "bench_sweep.sh: $failed configuration(s) failed" >&2; exit 1; }
