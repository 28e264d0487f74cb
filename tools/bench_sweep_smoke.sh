#!/usr/bin/env bash
# Smoke test of tools/bench_sweep.sh + tools/plot_scaling.py with tiny settings: every
# configuration (ranks 1 2 x sizes 4MiB 8MiB x the usable backends of hdf5/reference x sync/async)
# is in results.json with positive figures, summary.md has a row for each, and both plots are
# PNG files. Exit 77 (skipped) when matplotlib is missing, after checking everything else.
# Usage: bench_sweep_smoke.sh WORKDIR CAIRN_BENCH [mpiexec args...]
set -euo pipefail
work=$1 bench=$2
shift 2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3
ranks="1 2" sizes="4MiB 8MiB" modes="sync async" backends=""
for b in hdf5 reference; do
  if "$bench" --check-backend "$b" >/dev/null; then backends+="$b "; fi
done
out="$work/sweep"
CAIRN_BENCH="$bench" MPIRUN_ARGS="$*" PYTHON="$PYTHON" "$ROOT/tools/bench_sweep.sh" \
  --ranks "$ranks" --sizes "$sizes" --backends "$backends" --modes "$modes" \
  --runs 1 --warmup 0 --out "$out" -- --dir "$work/data"

"$PYTHON" - "$out" "$ranks" "$sizes" "$backends" "$modes" <<'PY'
import itertools, json, pathlib, sys
out = pathlib.Path(sys.argv[1])
ranks, sizes, backends, modes = (a.split() for a in sys.argv[2:6])
records = json.loads((out / "results.json").read_text())
by_config = {(r["backend"], r["mode"], r["size"], r["ranks"]): r for r in records}
errors = []
for b, m, s, n in itertools.product(backends, modes, sizes, ranks):
    r = by_config.get((b, m, s, int(n)))
    if r is None:
        errors.append(f"missing configuration {b} {m} {s} np{n}")
        continue
    figures = {"bytes": r["bytes"]}
    for phase in ("save", "restore"):
        p = r["phases"][phase]
        figures[phase + " ratio"] = p["ratio"]
        for who in ("baseline", "cairn"):
            figures[f"{phase} {who} GB/s"] = p[who]["median_gbps"]
            figures[f"{phase} {who} s"] = p[who]["median_seconds"]
    figures["blocking s"] = r["phases"]["save"]["cairn"]["median_blocking_seconds"]
    figures["blocking ratio"] = r["phases"]["save"]["blocking_ratio"]
    for k, v in figures.items():
        if not (isinstance(v, (int, float)) and v > 0):
            errors.append(f"{b} {m} {s} np{n}: {k} = {v!r}, not positive")
    if r["mode"] != m or r["compression"] is not False:
        errors.append(f"{b} {m} {s} np{n}: recorded as {r['mode']}, zstd {r['compression']}")
    if m == "sync" and r["phases"]["save"]["cairn"]["median_blocking_seconds"] != \
            r["phases"]["save"]["cairn"]["median_seconds"]:
        errors.append(f"{b} sync {s} np{n}: blocking time differs from the save time")
expected = len(backends) * len(modes) * len(sizes) * len(ranks)
if len(records) != expected:
    errors.append(f"results.json has {len(records)} configurations, expected {expected}")
rows = [l for l in (out / "summary.md").read_text().splitlines() if l.startswith("| ")]
if len(rows) != expected + 1:  # + the header
    errors.append(f"summary.md has {len(rows) - 1} rows, expected {expected}")
try:
    import matplotlib  # noqa: F401
    have_mpl = True
except ImportError:
    have_mpl = False
if have_mpl:
    for name in ("scaling_throughput.png", "scaling_blocking.png"):
        f = out / name
        if not f.is_file() or f.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
            errors.append(f"{f} is missing or not a PNG file")
for e in errors:
    print("FAIL:", e)
if errors:
    sys.exit(1)
if not have_mpl:
    print("SKIP: all configurations present, but matplotlib is missing: no plots to check")
    sys.exit(77)
print(f"PASS: {expected} configurations with positive figures, summary.md, 2 PNG plots")
PY
