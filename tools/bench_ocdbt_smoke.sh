#!/usr/bin/env bash
# Smoke test of tools/bench_ocdbt.sh + tools/bench_orbax.py with tiny settings (2 MiB, 2 leaves,
# 1 and 2 cairn ranks, compression on and off, 1 round): results.json has every configuration
# with positive save/restore GB/s for ocdbt, hdf5, raw, Orbax and TensorStore and positive
# ocdbt/Orbax ratios, and summary.md has a row for each in both tables. Exit 77 (skipped) when
# $CAIRN_VENV_PYTHON is unset or lacks orbax-checkpoint, jax or tensorstore.
# Usage: bench_ocdbt_smoke.sh WORKDIR CAIRN_BENCH [mpiexec args...]
set -euo pipefail
work=$1 bench=$2
shift 2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z ${CAIRN_VENV_PYTHON:-} ]]; then
  echo "SKIP: CAIRN_VENV_PYTHON is unset (tools/dev exports it: the venv with orbax-checkpoint)"
  exit 77
fi
if ! why=$(JAX_PLATFORMS=cpu "$CAIRN_VENV_PYTHON" -c \
  'import orbax.checkpoint, jax, tensorstore' 2>&1); then
  echo "SKIP: $CAIRN_VENV_PYTHON lacks orbax-checkpoint, jax or tensorstore: ${why##*$'\n'}"
  exit 77
fi
for b in ocdbt hdf5; do
  if ! why=$("$bench" --check-backend "$b"); then
    echo "SKIP: cairn-bench: $why"
    exit 77
  fi
done
out="$work/out"
CAIRN_BENCH="$bench" MPIRUN_ARGS="$*" "$ROOT/tools/bench_ocdbt.sh" --sizes 2MiB --leaves 2 \
  --ranks "1 2" --rounds 1 --compression "on off" --impls orbax,tensorstore --out "$out" \
  --dir "$work/data"

"$CAIRN_VENV_PYTHON" - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
records = json.loads((out / "results.json").read_text())
errors = []
want = {(c, n) for c in (True, False) for n in (1, 2)}
got = {(r["compression"], r["ranks"]) for r in records}
if got != want:
    errors.append(f"configurations {sorted(got)}, expected {sorted(want)}")
for r in records:
    tag = f"zstd {'on' if r['compression'] else 'off'} np{r['ranks']}"
    if r["bytes"] != 2 << 20:
        errors.append(f"{tag}: {r['bytes']} bytes, expected {2 << 20}")
    for who in ("ocdbt", "hdf5", "raw", "orbax", "tensorstore"):
        for ph in ("save", "restore"):
            v = r["medians"].get(who, {}).get(ph)
            if not (isinstance(v, (int, float)) and v > 0):
                errors.append(f"{tag}: {who} {ph} GB/s = {v!r}, not positive")
    v = r["medians"].get("orbax", {}).get("restore_meta")
    if not (isinstance(v, (int, float)) and v > 0):
        errors.append(f"{tag}: orbax restore without target GB/s = {v!r}, not positive")
    for k in ("ocdbt/orbax save", "ocdbt/orbax restore", "ocdbt/raw save", "ocdbt/raw restore"):
        v = r["ratios"].get(k)
        if not (isinstance(v, (int, float)) and v > 0):
            errors.append(f"{tag}: ratio {k} = {v!r}, not positive")
rows = [l for l in (out / "summary.md").read_text().splitlines() if l.startswith("| 2MiB |")]
if len(rows) != 3 * len(want):  # save, restore, stored size
    errors.append(f"summary.md has {len(rows)} data rows, expected {3 * len(want)}")
for e in errors:
    print("FAIL:", e)
if errors:
    sys.exit(1)
print(f"PASS: {len(records)} configurations with positive figures and ratios, summary.md")
PY
