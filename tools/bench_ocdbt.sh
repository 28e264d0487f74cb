#!/usr/bin/env bash
# cairn's ocdbt backend next to Orbax: save/restore GB/s of cairn-bench --backend ocdbt, of
# --backend hdf5 and of the raw write()+fsync / read() baseline, beside Orbax 0.12.8
# (use_ocdbt=True, use_zarr3=True; tools/bench_orbax.py, one Python process on the CPU device)
# saving and restoring the same tree (same bytes, arrays, global shapes, float32 values of the
# same distribution) on the same disk, in the same run. Writes into OUT:
#   runs/<size>-zstd_<c>-<who>[-np<n>]-r<k>.{json,log}   one program run each (one timed run)
#   results.json   every configuration's samples, medians and ratios
#   summary.md     the medians and ratios as markdown tables (also printed)
#
#   tools/bench_ocdbt.sh [--sizes "256MiB 1GiB"] [--leaves 4] [--ranks "1 2"] [--rounds 5]
#       [--compression "on off"] [--impls orbax,tensorstore] [--out DIR] [--dir DATA]
#       [--summarize] [--] [more cairn-bench args...]
#
# --summarize only rebuilds results.json and summary.md from the runs already in OUT (say, of
# a sweep that was stopped part way), with the same --sizes/--ranks/--compression/--rounds.
#
# Rounds interleave: in each round, for each size and compression, Orbax runs once and
# cairn-bench runs once per rank count with ocdbt and with hdf5; the order of these programs
# is reversed every other round, so no one always goes first. Each program run times one save
# and one cold restore (files dropped from the page cache in between, fsync +
# POSIX_FADV_DONTNEED, by both programs). Orbax always runs as one process: its figure sits on
# every rank count's row. Medians are over the rounds; ratios are ratios of the medians; "raw"
# pools the baselines of the ocdbt and hdf5 runs at that rank count.
#
# Options may also come from the environment: SIZE (or SIZES), LEAVES, RANKS, ROUNDS,
# COMPRESSION, IMPLS, OUT, DATA_DIR. Other environment:
#   CAIRN_BENCH        the cairn-bench program (default: $CAIRN_BUILD_DIR/tools/cairn-bench,
#                      CAIRN_BUILD_DIR defaulting to build)
#   CAIRN_VENV_PYTHON  Python with orbax-checkpoint, jax[cpu] and tensorstore (default:
#                      build-venv/bin/python; tools/dev build makes it)
#   LAUNCHER, MPIRUN_ARGS   as in tools/bench_sweep.sh (mpirun gets --oversubscribe, and
#                      --allow-run-as-root as root)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="${CAIRN_BENCH:-$ROOT/${CAIRN_BUILD_DIR:-build}/tools/cairn-bench}"
VPY="${CAIRN_VENV_PYTHON:-$ROOT/build-venv/bin/python}"
SIZES="${SIZES:-${SIZE:-256MiB 1GiB}}"
LEAVES="${LEAVES:-4}"
RANKS="${RANKS:-1 2}"
ROUNDS="${ROUNDS:-5}"
COMPRESSION="${COMPRESSION:-on off}"
IMPLS="${IMPLS:-orbax,tensorstore}"
OUT="${OUT:-bench-ocdbt-$(date +%Y%m%d-%H%M%S)}"
DATA_DIR="${DATA_DIR:-/tmp/bench-ocdbt-$$}"
SUMMARIZE=0
usage() { sed -n '2,34s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
die() { echo "bench_ocdbt.sh: $*" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --sizes | --size) SIZES="$2"; shift 2 ;;
    --leaves) LEAVES="$2"; shift 2 ;;
    --ranks) RANKS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --compression) COMPRESSION="$2"; shift 2 ;;
    --impls) IMPLS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --dir) DATA_DIR="$2"; shift 2 ;;
    --summarize) SUMMARIZE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (cairn-bench arguments go after --)" ;;
  esac
done
for a in "$@"; do
  case "$a" in
    --size | --size=* | --leaves | --leaves=* | --backend | --backend=* | --compression | \
      --compression=* | --runs | --runs=* | --warmup | --warmup=* | --json | --json=* | \
      --dir | --dir=* | --fill | --fill=* | --cold | --cold=*)
      die "'$a' after -- is set by bench_ocdbt.sh itself" ;;
  esac
done
for c in $COMPRESSION; do
  [[ $c == on || $c == off ]] || die "--compression takes on and/or off, got '$c'"
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds takes a positive integer, got '$ROUNDS'"
[[ -x $BENCH ]] || die "no $BENCH (build first, or set CAIRN_BENCH / CAIRN_BUILD_DIR)"
for b in ocdbt hdf5; do
  why=$("$BENCH" --check-backend "$b" 2>&1) || die "cairn-bench cannot use $why"
done
[[ -x $VPY ]] || die "no Python at $VPY (set CAIRN_VENV_PYTHON, or run tools/dev build)"
"$VPY" -c 'import orbax.checkpoint, jax, tensorstore' 2>/dev/null ||
  die "$VPY lacks orbax-checkpoint, jax or tensorstore"

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
export JAX_PLATFORMS=cpu TF_CPP_MIN_LOG_LEVEL=2

mkdir -p "$OUT/runs" "$DATA_DIR"
trap 'rm -rf "$DATA_DIR"' EXIT
first_rank=${RANKS%% *}
echo "== into $OUT: sizes [$SIZES] leaves $LEAVES cairn ranks [$RANKS] compression" \
  "[$COMPRESSION] rounds $ROUNDS python [$IMPLS]; data in $DATA_DIR; launcher: ${LAUNCH[*]}"
failed=0 start=$SECONDS
run_one() {  # run_one TAG CMD...: CMD writes $OUT/runs/TAG.json; its output goes to TAG.log
  local tag=$1
  shift
  rm -f "$OUT/runs/$tag.json"
  if "$@" >"$OUT/runs/$tag.log" 2>&1 && [[ -s $OUT/runs/$tag.json ]]; then
    echo "   [$((SECONDS - start))s] $tag ok"
  else
    failed=$((failed + 1))
    echo "!! $tag FAILED: $*; from $OUT/runs/$tag.log:" >&2
    grep -m 5 -E 'cairn-bench|bench_orbax|Error|what\(\)' "$OUT/runs/$tag.log" >&2 ||
      tail -n 5 "$OUT/runs/$tag.log" >&2 || true
    rm -f "$OUT/runs/$tag.json"
  fi
}
((SUMMARIZE)) && ROUNDS_RUN=0 || ROUNDS_RUN=$ROUNDS
for ((k = 0; k < ROUNDS_RUN; ++k)); do
  for s in $SIZES; do
    for c in $COMPRESSION; do
      jobs=("python")
      for n in $RANKS; do jobs+=("ocdbt:$n" "hdf5:$n"); done
      if ((k % 2 == 1)); then  # reversed every other round
        rev=()
        for ((i = ${#jobs[@]} - 1; i >= 0; --i)); do rev+=("${jobs[i]}"); done
        jobs=("${rev[@]}")
      fi
      echo "== round $k: $s zstd $c: ${jobs[*]}"
      for j in "${jobs[@]}"; do
        if [[ $j == python ]]; then
          tag="$s-zstd_$c-python-r$k"
          run_one "$tag" "$VPY" "$ROOT/tools/bench_orbax.py" --size "$s" --leaves "$LEAVES" \
            --ranks "$first_rank" --compression "$c" --runs 1 --impls "$IMPLS" \
            --restore-meta on --dir "$DATA_DIR/python" --json "$OUT/runs/$tag.json"
        else
          b=${j%%:*} n=${j##*:}
          tag="$s-zstd_$c-$b-np$n-r$k"
          run_one "$tag" "${LAUNCH[@]}" -n "$n" "$BENCH" --size "$s" --leaves "$LEAVES" \
            --backend "$b" --compression "$c" --runs 1 --fill hash --cold on \
            --dir "$DATA_DIR/cairn" --json "$OUT/runs/$tag.json" "$@"
        fi
      done
    done
  done
done
echo "== $failed failed run(s); $((SECONDS - start))s in all"

"$VPY" - "$OUT" "$SIZES" "$COMPRESSION" "$RANKS" "$IMPLS" "$LEAVES" "$ROUNDS" <<'PY'
import json, pathlib, re, statistics, sys
out = pathlib.Path(sys.argv[1])
sizes, comps, ranks, impls = (sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split(),
                              sys.argv[5].split(","))
leaves, rounds = int(sys.argv[6]), int(sys.argv[7])
runs = {}
for f in sorted((out / "runs").glob("*.json")):
    runs[f.stem] = json.loads(f.read_text())

def med(xs):
    return statistics.median(xs) if xs else None

def gbps(nbytes, secs):
    return [nbytes / s / 1e9 for s in secs]

records, warnings = [], []
for s in sizes:
    for c in comps:
        py = [runs[t] for t in (f"{s}-zstd_{c}-python-r{k}" for k in range(rounds)) if t in runs]
        for n in ranks:
            rec = {"size": s, "compression": c == "on", "ranks": int(n), "leaves": leaves}
            series = {}  # who -> phase -> [GB/s per round]
            nbytes = None
            for b in ("ocdbt", "hdf5"):
                cj = [runs[t] for t in (f"{s}-zstd_{c}-{b}-np{n}-r{k}" for k in range(rounds))
                      if t in runs]
                for j in cj:
                    nbytes = j["bytes"]
                    rec["global_shape"] = j["global_shape"]
                    for ph in ("save", "restore"):
                        series.setdefault(b, {}).setdefault(ph, []).extend(
                            gbps(j["bytes"], j["phases"][ph]["cairn"]["seconds"]))
                        series.setdefault("raw", {}).setdefault(ph, []).extend(
                            gbps(j["bytes"], j["phases"][ph]["baseline"]["seconds"]))
                    series[b].setdefault("compression_ratio", []).append(j["compression_ratio"])
            for j in py:
                if nbytes is not None and j["bytes"] != nbytes:
                    warnings.append(f"{s} np{n}: Python tree {j['bytes']} bytes, cairn {nbytes}")
                for impl, e in j["impls"].items():
                    for ph in ("save", "restore", "restore_meta"):
                        if ph in e:
                            series.setdefault(impl, {}).setdefault(ph, []).extend(
                                gbps(j["bytes"], e[ph]["seconds"]))
                    series[impl].setdefault("compression_ratio", []).append(e["compression_ratio"])
            rec["bytes"] = nbytes
            rec["samples"] = series  # GB/s per round per phase; compression_ratio per round
            rec["medians"] = {w: {ph: med(v) for ph, v in d.items()} for w, d in series.items()}
            m = rec["medians"]
            ratios = {}
            for ph in ("save", "restore"):
                o = m.get("ocdbt", {}).get(ph)
                for ref in ("orbax", "tensorstore", "raw", "hdf5"):
                    r = m.get(ref, {}).get(ph)
                    if o and r:
                        ratios[f"ocdbt/{ref} {ph}"] = o / r
                om = m.get("orbax", {}).get("restore_meta")
                if o and om and ph == "restore":
                    ratios["ocdbt/orbax-no-target restore"] = o / om
            rec["ratios"] = ratios
            records.append(rec)
(out / "results.json").write_text(json.dumps(records, indent=2) + "\n")

def f(x, nd=3):
    return "-" if x is None else f"{x:.{nd}f}"

have_ts = "tensorstore" in impls
counts = [len(v) for r in records for w, d in r["samples"].items() if w != "raw"
          for k, v in d.items() if k in ("save", "restore")]
n_lo, n_hi = (min(counts), max(counts)) if counts else (0, 0)
n_text = f"{n_lo}" if n_lo == n_hi else f"{n_lo} to {n_hi}"
lines = [f"GB/s = 1e9 bytes/s, medians of {n_text} samples per cell (rounds asked: {rounds}; raw "
         f"pools the ocdbt and hdf5 runs' baselines); {leaves} float32 leaves; cold "
         "restores; Orbax/TensorStore: one process; ratios are ratios of medians.", ""]
for ph in ("save", "restore"):
    hdr = ["size", "zstd", "cairn ranks", "ocdbt", "hdf5", "raw", "Orbax"]
    if ph == "restore":
        hdr.append("Orbax no target")
    if have_ts:
        hdr.append("TensorStore")
    hdr += ["ocdbt/Orbax", "ocdbt/raw", "ocdbt/hdf5"]
    if have_ts:
        hdr.append("ocdbt/TS")
    lines += [f"**{ph}** (GB/s)", "", "| " + " | ".join(hdr) + " |",
              "|" + "|".join("---" for _ in hdr) + "|"]
    for r in records:
        m, q = r["medians"], r["ratios"]
        g = lambda w, p=ph: m.get(w, {}).get(p)
        row = [r["size"], "on" if r["compression"] else "off", str(r["ranks"]),
               f(g("ocdbt")), f(g("hdf5")), f(g("raw")), f(g("orbax"))]
        if ph == "restore":
            row.append(f(g("orbax", "restore_meta")))
        if have_ts:
            row.append(f(g("tensorstore")))
        row += [f(q.get(f"ocdbt/orbax {ph}"), 2) + "x", f(q.get(f"ocdbt/raw {ph}"), 2) + "x",
                f(q.get(f"ocdbt/hdf5 {ph}"), 2) + "x"]
        if have_ts:
            row.append(f(q.get(f"ocdbt/tensorstore {ph}"), 2) + "x")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
lines += ["**stored size** (raw bytes / checkpoint bytes)", "",
          "| size | zstd | cairn ranks | ocdbt | hdf5 | Orbax" + (" | TensorStore" if have_ts else "")
          + " |", "|---|---|---|---|---|---" + ("|---" if have_ts else "") + "|"]
for r in records:
    m = r["medians"]
    row = [r["size"], "on" if r["compression"] else "off", str(r["ranks"])] + [
        f(m.get(w, {}).get("compression_ratio")) for w in
        (["ocdbt", "hdf5", "orbax"] + (["tensorstore"] if have_ts else []))]
    lines.append("| " + " | ".join(row) + " |")
text = "\n".join(lines) + "\n"
(out / "summary.md").write_text(text)
print(text)
for w in warnings:
    print("WARNING:", w)
PY
((failed == 0)) || { echo "bench_ocdbt.sh: $failed run(s) failed" >&2; exit 1; }
