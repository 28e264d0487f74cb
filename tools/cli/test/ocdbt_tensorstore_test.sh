#!/usr/bin/env bash
# The ocdbt backend under MPI, judged by the real TensorStore: cli_fixture saves the same steps
# with the hdf5 and the ocdbt backends at NP ranks; TensorStore (zarr3 over the item's merged
# OCDBT database) must read every array equal to what h5py reads from the HDF5 twin.
# Usage: ocdbt_tensorstore_test.sh FIXTURE NP [mpiexec args...]
#   env PYTHON (with h5py), CAIRN_VENV_PYTHON (with tensorstore; tools/dev makes build-venv/).
set -euo pipefail
fixture=$(realpath "$1") np=$2
shift 2
py=${PYTHON:-python3}
venv_py=${CAIRN_VENV_PYTHON:-}
if [[ -z $venv_py || ! -x $venv_py ]] || ! "$venv_py" -c 'import tensorstore' 2>/dev/null; then
  echo "SKIP: no Python with tensorstore (CAIRN_VENV_PYTHON='$venv_py'; tools/dev test makes build-venv/)"
  exit 77
fi
export HDF5_PLUGIN_PATH=$(realpath "$(dirname "$fixture")/../../../src/storage/hdf5")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
for c in 0 1; do
  mpiexec "$@" -n "$np" "$fixture" h5_$c --steps 2 --compression $c --backend hdf5
  mpiexec "$@" -n "$np" "$fixture" oc_$c --steps 2 --compression $c --backend ocdbt
  for step in 1 2; do
    [[ -f oc_$c/$step/default/manifest.ocdbt ]] || { echo "FAIL: no merged manifest"; exit 1; }
    # h5py (system Python) dumps the HDF5 twin's arrays; TensorStore reads the OCDBT ones.
    "$py" - h5_$c/$step/default/data.h5 want_${c}_$step.npz <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
out = {}
f.visititems(lambda n, o: out.__setitem__(n.replace("/", "."), o[()]) if isinstance(o, h5py.Dataset) else None)
# (h5py reads cairn's bfloat16 datasets, a custom HDF5 float, as float32: exact.)
np.savez(sys.argv[2], **out, **{"__shape__" + k: np.array(v.shape, np.int64) for k, v in out.items()})
PY
    "$venv_py" - "oc_$c/$step/default" want_${c}_$step.npz <<'PY'
import sys, os, numpy as np, tensorstore as ts
root, want = os.path.abspath(sys.argv[1]), np.load(sys.argv[2])
kv = {"driver": "ocdbt", "base": "file://" + root}
keys = sorted(k.decode() if isinstance(k, bytes) else k for k in ts.KvStore.open(kv).result().list().result())
names = sorted({k.rsplit("/zarr.json", 1)[0] for k in keys if k.endswith("/zarr.json")})
expected = sorted(k for k in want.files if not k.startswith("__shape__"))
# Scalar leaves are 0-d arrays in the database too (Orbax's layout); HDF5 keeps them in _METADATA.
extra = sorted(set(names) - set(expected))
assert set(expected) <= set(names), (names, expected)
for n in extra:
    assert ts.open({"driver": "zarr3", "kvstore": {**kv, "path": n + "/"}}, open=True).result().shape == (), n
for n in expected:
    arr = ts.open({"driver": "zarr3", "kvstore": {**kv, "path": n + "/"}}, open=True).result()
    got = arr.read().result()
    assert list(got.shape) == list(want["__shape__" + n]), (n, got.shape)
    w = want[n]
    if got.dtype.name == "bfloat16":
        got = got.astype(np.float32)  # exact
    assert got.dtype == w.dtype, (n, got.dtype, w.dtype)
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(w).tobytes(), n
print(f"{root}: {len(names)} arrays read by TensorStore equal the HDF5 twin")
PY
  done
done
echo "ocdbt_tensorstore_test: TensorStore reads cairn's ocdbt checkpoints (np=$np)"
