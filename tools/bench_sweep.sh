#!/usr/bin/env bash
# Runs cairn-bench at several rank counts and both compression settings, keeping every table and
# JSON file under OUT. Extra arguments go to cairn-bench.
#
#   tools/bench_sweep.sh [--ranks "1 2 4"] [--out DIR] [--] [cairn-bench args...]
#   e.g. tools/bench_sweep.sh --ranks "1 2 4" -- --size 1GiB --runs 5 --backend hdf5
#
# Environment: CAIRN_BUILD_DIR (default: build), MPIRUN_ARGS (extra launcher arguments,
# e.g. "--mca io romio321").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/${CAIRN_BUILD_DIR:-build}/tools/cairn-bench"
RANKS="1 2 4"
OUT="bench-$(date +%Y%m%d-%H%M%S)"
COMPRESSION="off on"
while (($#)); do
  case "$1" in
    --ranks) RANKS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --compression) COMPRESSION="$2"; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[[ -x $BENCH ]] || { echo "bench_sweep.sh: no $BENCH (build first)" >&2; exit 1; }
mkdir -p "$OUT"
LAUNCH=(mpirun)
if mpirun --version 2>&1 | grep -q 'Open MPI'; then LAUNCH+=(--allow-run-as-root --oversubscribe); fi
# shellcheck disable=SC2206
LAUNCH+=(${MPIRUN_ARGS:-})
for c in $COMPRESSION; do
  for n in $RANKS; do
    tag="np${n}-compression-${c}"
    echo "== ${LAUNCH[*]} -n $n $BENCH --compression $c --json $OUT/$tag.json $*"
    "${LAUNCH[@]}" -n "$n" "$BENCH" --compression "$c" --json "$OUT/$tag.json" "$@" \
      2>"$OUT/$tag.log" | tee "$OUT/$tag.txt"
  done
done
# One summary table from the JSON files.
python3 - "$OUT" <<'PY'
import json, pathlib, sys
rows = []
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    j = json.loads(f.read_text())
    p = j["phases"]
    rows.append((j["compression"], j["ranks"], p["save"]["baseline"]["median_gbps"],
                 p["save"]["cairn"]["median_gbps"], p["save"]["ratio"],
                 p["restore"]["baseline"]["median_gbps"], p["restore"]["cairn"]["median_gbps"],
                 p["restore"]["ratio"], j["compression_ratio"], j["backend"], j["bytes"]))
rows.sort()
print("| compression | ranks | save base GB/s | save cairn GB/s | save ratio | restore base GB/s "
      "| restore cairn GB/s | restore ratio | raw/stored |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {'on' if r[0] else 'off'} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} "
          f"| {r[6]:.2f} | {r[7]:.2f} | {r[8]:.3f} |")
PY
