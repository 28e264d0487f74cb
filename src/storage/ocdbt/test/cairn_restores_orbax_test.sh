#!/usr/bin/env bash
# cairn restores what the real Orbax wrote: make_orbax_checkpoints.py (Orbax 0.12, 4 CPU devices)
# writes CheckpointManager roots (compression on and off, 3 steps each) and a StandardCheckpointer
# directory, zarr3 + OCDBT; orbax_restore_fixture restores them at NP ranks, split along dim 0,
# along the last dim and whole on every rank, through Checkpointer::Restore and
# CheckpointManager::Restore; check_cairn_restored.py compares every rank's bytes and values with
# what Orbax saved, also for a database left in its per-process part (ocdbt.process_0/ without the
# top-level manifest.ocdbt; Orbax itself does not read that). Then damaged checkpoints (a truncated
# data file, a flipped manifest byte) and a zarr v2 one must fail on every rank with a message
# naming the file (Unimplemented for zarr v2), never hang or pass silently.
# Usage: cairn_restores_orbax_test.sh FIXTURE NP GENERATOR CHECKER [mpiexec args...]
#   env CAIRN_VENV_PYTHON (with orbax-checkpoint, jax; tools/dev makes build-venv/).
set -euo pipefail
fixture=$(realpath "$1") np=$2 gen=$(realpath "$3") check=$(realpath "$4")
shift 4
mpi_args=("$@")
venv_py=${CAIRN_VENV_PYTHON:-}
if [[ -z $venv_py || ! -x $venv_py ]] ||
    ! "$venv_py" -c 'import orbax.checkpoint, jax' 2>/dev/null; then
  echo "SKIP: no Python with orbax-checkpoint and jax (CAIRN_VENV_PYTHON='$venv_py';" \
    "tools/dev test makes build-venv/)"
  exit 77
fi
export JAX_PLATFORMS=cpu
tmp=$(mktemp -d -t cairn_restores_orbax.XXXXXX)
# CAIRN_TEST_KEEP=1 keeps the checkpoints for a look.
if [[ -n ${CAIRN_TEST_KEEP:-} ]]; then echo "keeping $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi
cd "$tmp"
if ! "$venv_py" "$gen" orbax --zarr2 2> gen.err; then
  cat gen.err
  echo "FAIL: the Orbax generator failed"
  exit 1
fi

fails=0
# restore CKPT EXPECTED SPLIT VIA: restore at NP ranks, then compare.
restore() {
  local ckpt=$1 want=$2 split=$3 via=$4 out
  out=out/$(echo "$ckpt" | tr / _).$split.$via
  mkdir -p "$out"
  if ! mpiexec "${mpi_args[@]}" -n "$np" "$fixture" "orbax/$ckpt" "$out" \
      --split "$split" --via "$via" > "$out.log" 2>&1; then
    echo "FAIL: cairn did not restore orbax/$ckpt ($split, via $via) at $np ranks:"
    sed 's/^/  | /' "$out.log" | head -20
    fails=$((fails + 1))
    return 0
  fi
  if ! "$venv_py" "$check" "$out" "orbax/expected/$want" "$np"; then
    echo "FAIL: orbax/$ckpt ($split, via $via) restored at $np ranks differs from what Orbax saved"
    fails=$((fails + 1))
  fi
}
restore mgr_z/1 mgr_z.1 rows checkpointer
restore mgr_z/2 mgr_z.2 cols checkpointer
restore mgr_z/3 mgr_z.3 rows manager
restore mgr_raw/1 mgr_raw.1 rows checkpointer
restore mgr_raw/2 mgr_raw.2 rep checkpointer
restore mgr_raw/3 mgr_raw.3 cols manager
restore standard standard rows checkpointer
restore standard standard cols checkpointer
# Orbax before 2026-08 wrote no commit_success.txt on local file systems (it commits by rename):
# such a step is committed for cairn too.
mkdir -p orbax/nomarker
cp -r orbax/mgr_z/1 orbax/nomarker/1
find orbax/nomarker -name commit_success.txt -delete
restore nomarker/1 mgr_z.1 rows checkpointer

# must_fail CKPT WHAT PATTERN [FIXTURE ARGS]: the restore fails on every rank with a message
# matching PATTERN.
must_fail() {
  local ckpt=$1 what=$2 pattern=$3 out log rc=0
  shift 3
  out=out/$(echo "$ckpt" | tr / _).fail$#
  mkdir -p "$out"
  log=$out.log
  timeout 120 mpiexec "${mpi_args[@]}" -n "$np" "$fixture" "orbax/$ckpt" "$out" "$@" \
    > "$log" 2>&1 || rc=$?
  if ((rc == 0)); then
    echo "FAIL: cairn restored $what (orbax/$ckpt) without an error"
    fails=$((fails + 1))
  elif ((rc == 124)); then
    echo "FAIL: cairn hung restoring $what (orbax/$ckpt)"
    sed 's/^/  | /' "$log" | head -20
    fails=$((fails + 1))
  else
    local r
    for ((r = 0; r < np; r++)); do
      if ! grep -E "orbax_restore_fixture: rank $r: " "$log" | grep -qiE "$pattern"; then
        echo "FAIL: $what: rank $r printed no error matching /$pattern/:"
        sed 's/^/  | /' "$log" | head -20
        fails=$((fails + 1))
        return 0
      fi
    done
    echo "ok: $what fails on every rank: $(grep -m1 'rank 0: ' "$log" | cut -c1-400)"
  fi
}
# Truncate the largest data file of the database (the `big` leaf's shards are there).
mkdir -p orbax/trunc
cp -r orbax/mgr_z/3 orbax/trunc/3
victim=$(find orbax/trunc/3/default -path '*/d/*' -type f -printf '%s %p\n' | sort -n | tail -1 |
  cut -d' ' -f2)
truncate -s $(($(stat -c %s "$victim") / 2)) "$victim"
must_fail trunc/3 "a truncated data file" "$(basename "$victim")"
# Flip a byte in the middle of the top-level manifest (its checksum no longer matches).
mkdir -p orbax/flip
cp -r orbax/mgr_z/3 orbax/flip/3
m=orbax/flip/3/default/manifest.ocdbt
"$venv_py" - "$m" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 2] ^= 0x40
open(sys.argv[1], "wb").write(b)
PY
must_fail flip/3 "a flipped manifest byte" "manifest\.ocdbt"
# The same, with the target built from the healthy copy: the collective Restore itself fails.
must_fail flip/3 "a flipped manifest byte (in Restore)" "manifest\.ocdbt" \
  --target-from orbax/mgr_z/3 --split cols
# A database left in its per-process parts (ocdbt.process_0/, no top-level manifest.ocdbt):
# Orbax 0.12.8 refuses it too (NOT_FOUND for the zarr.json); cairn names the missing manifest.
mkdir -p orbax/unmerged
cp -r orbax/mgr_z/2 orbax/unmerged/2
rm -rf orbax/unmerged/2/default/manifest.ocdbt orbax/unmerged/2/default/d
must_fail unmerged/2 "an unmerged database" "manifest\.ocdbt"
# zarr v2 (Orbax's own default, use_zarr3=False): not read by cairn, said so.
must_fail v2/1 "a zarr v2 checkpoint" "unimplemented.*zarr|zarr.*unimplemented"

if ((fails > 0)); then
  echo "cairn_restores_orbax_test: $fails failure(s) at np=$np"
  exit 1
fi
echo "cairn_restores_orbax_test: cairn restores Orbax's checkpoints bit-exactly (np=$np)"
