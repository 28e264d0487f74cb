#!/usr/bin/env bash
# The real Orbax restores what cairn's ocdbt backend saved under MPI: cli_fixture (with its
# --extra leaves: partly replicated, odd shapes, a 0-d array held by one rank, a list, an int32
# scalar, a JSON leaf) saves 2 steps with --backend ocdbt (compression on and off) and once with a
# small target data file size (several data files) and twice compressing on 4 threads
# (CAIRN_COMPRESSION_THREADS: large chunks by zstd's workers, small ones several at a time), each
# with an HDF5 twin; then
# check_orbax_restores_cairn.py restores them with Orbax (StandardCheckpointer,
# PyTreeCheckpointer, CheckpointManager) and compares with h5py's read of the twin, and has
# TensorStore decode every manifest and B+tree node.
# SaveOptions.array.use_ocdbt (without --backend) must select the same backend.
# Usage: orbax_restores_cairn_test.sh FIXTURE NP CHECKER [mpiexec args...]
#   env PYTHON (with h5py), CAIRN_VENV_PYTHON (orbax-checkpoint, jax, tensorstore; tools/dev),
#   HDF5_PLUGIN_PATH (the zstd filter, for h5py's read of compressed twins).
set -euo pipefail
fixture=$(realpath "$1") np=$2 check=$(realpath "$3")
shift 3
py=${PYTHON:-/usr/bin/python3}
venv_py=${CAIRN_VENV_PYTHON:-}
if [[ -z $venv_py || ! -x $venv_py ]] ||
    ! "$venv_py" -c 'import orbax.checkpoint, jax, tensorstore' 2>/dev/null; then
  echo "SKIP: no Python with orbax-checkpoint, jax and tensorstore" \
    "(CAIRN_VENV_PYTHON='$venv_py'; tools/dev test makes build-venv/)"
  exit 77
fi
export JAX_PLATFORMS=cpu
tmp=$(mktemp -d -t orbax_restores_cairn.XXXXXX)
# CAIRN_TEST_KEEP=1 keeps the checkpoints for a look.
if [[ -n ${CAIRN_TEST_KEEP:-} ]]; then echo "keeping $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi
cd "$tmp"

save() {  # save ROOT ARGS...: cli_fixture at NP ranks
  local root=$1
  shift
  if ! mpiexec "$@" > "$root.log" 2>&1; then
    sed 's/^/  | /' "$root.log"
    echo "FAIL: cli_fixture $root did not save"
    exit 1
  fi
}
for c in 0 1; do
  save h5_$c "$@" -n "$np" "$fixture" h5_$c --steps 2 --compression $c --backend hdf5 --extra 1
  save oc_$c "$@" -n "$np" "$fixture" oc_$c --steps 2 --compression $c --backend ocdbt --extra 1
done
# SaveOptions.array.use_ocdbt = true with the default backend selects the ocdbt backend.
save oc_flag "$@" -n "$np" "$fixture" oc_flag --steps 1 --compression 1 --use-ocdbt 1 --extra 1
# Several data files: params.w 1024 x 23 float32 in chunks of 128 rows (11.5 KiB, a multiple of
# every rank's rows, uncompressed: 8 indirect values), with a target data file size of 4 KiB,
# below one value, so that each value lies in a data file of its own.
big=(--steps 1 --compression 0 --extra 1 --big 1024 --chunk-bytes 11776)
save h5_big "$@" -n "$np" "$fixture" h5_big "${big[@]}" --backend hdf5
save oc_big "$@" -n "$np" "$fixture" oc_big "${big[@]}" --backend ocdbt --target-data-file-size 4096
save oc_one "$@" -n "$np" "$fixture" oc_one "${big[@]}" --backend ocdbt
# Compression on 4 threads: params.w 100000 x 23 float32 (9 MiB pieces at 1 rank: chunks
# compressed by zstd's workers) and 1024 x 23 in 128-row chunks (several chunks at a time).
export CAIRN_COMPRESSION_THREADS=4
mt=(--steps 1 --compression 1 --extra 1 --big 100000)
mtc=(--steps 1 --compression 1 --extra 1 --big 1024 --chunk-bytes 11776)
save h5_mt "$@" -n "$np" "$fixture" h5_mt "${mt[@]}" --backend hdf5
save oc_mt "$@" -n "$np" "$fixture" oc_mt "${mt[@]}" --backend ocdbt
save h5_mtc "$@" -n "$np" "$fixture" h5_mtc "${mtc[@]}" --backend hdf5
save oc_mtc "$@" -n "$np" "$fixture" oc_mtc "${mtc[@]}" --backend ocdbt
unset CAIRN_COMPRESSION_THREADS
n_split=$(find oc_big/1/default -path '*/d/*' -type f | wc -l)
n_one=$(find oc_one/1/default -path '*/d/*' -type f | wc -l)
if ((n_split < 8 || n_split <= n_one)); then
  find oc_big/1/default -type f -printf '%s %p\n' | sed 's/^/  | /'
  echo "FAIL: --target-data-file-size 4096 gave $n_split data files (without it: $n_one)"
  exit 1
fi
echo "ok: ocdbt_target_data_file_size 4096: $n_split data files (without: $n_one)"

cases=()
for step in 1 2; do
  for c in 0 1; do cases+=("oc_$c $step h5_$c 0 ocdbt"); done
done
cases+=("oc_big 1 h5_big 8 ocdbt" "oc_flag 1 h5_1 0 hdf5" "oc_mt 1 h5_mt 0 ocdbt"
  "oc_mtc 1 h5_mtc 0 ocdbt")
for cs in "${cases[@]}"; do
  read -r oc step h5 _ _ <<< "$cs"
  [[ -f $oc/$step/default/manifest.ocdbt ]] || {
    echo "FAIL: $oc/$step: no merged manifest"
    exit 1
  }
  [[ -f $h5/$step/default/data.h5 ]] || { echo "FAIL: $h5/$step: no data.h5"; exit 1; }
  # The twin's arrays by key path, read by h5py (bfloat16 reads as float32, exactly).
  "$py" - "$h5/$step/default/data.h5" "want_${h5}_$step.npz" <<'PY'
import sys, h5py, numpy as np
out = {}
with h5py.File(sys.argv[1], "r") as f:
  f.visititems(lambda n, o: out.__setitem__(n.replace("/", "."), o[()])
               if isinstance(o, h5py.Dataset) else None)
np.savez(sys.argv[2], **out)
PY
done
"$py" - "${cases[@]}" > cases.json <<'PY'
import json, os, sys
out = []
for cs in sys.argv[1:]:
  oc, step, h5, n, config_backend = cs.split()
  out.append({"root": os.path.abspath(oc), "step": int(step),
              "want": os.path.abspath(f"want_{h5}_{step}.npz"),
              "twin_metadata": os.path.abspath(f"{h5}/{step}/default/_METADATA"),
              "min_data_files": int(n), "config_backend": config_backend})
print(json.dumps(out, indent=1))
PY
# Orbax with 4 CPU devices: cairn's _sharding puts every array on device 0 whatever the count.
XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=4" "$venv_py" "$check" cases.json
echo "orbax_restores_cairn_test: Orbax restores cairn's ocdbt checkpoints (np=$np)"
