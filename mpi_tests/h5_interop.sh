#!/usr/bin/env bash
# A cairn checkpoint written under MPI is an ordinary HDF5 file: h5py and h5dump read it,
# compressed datasets included (through the zstd plugin, HDF5_PLUGIN_PATH).
# Usage: h5_interop.sh WRITER PLUGIN_DIR NP [mpiexec args...]
set -euo pipefail
writer=$1 plugin_dir=$2 np=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3
[[ -x $python ]] || python=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for compression in 0 1; do
  mpiexec "$@" -n "$np" "$writer" "$tmp/ckpt$compression" "$compression"
  HDF5_PLUGIN_PATH=$plugin_dir "$python" "$here/h5py_check.py" "$tmp/ckpt$compression"
done
# h5dump decodes the zstd-compressed kernel through the plugin and prints its values.
out=$(HDF5_PLUGIN_PATH=$plugin_dir h5dump -p -d /params/dense/kernel "$tmp/ckpt1/default/data.h5")
grep -q "32015" <<<"$out" || { echo "h5dump shows no zstd filter (32015):"; echo "$out"; exit 1; }
grep -q "20, 21, 22, 23" <<<"$out" || { echo "h5dump did not print the values:"; echo "$out"; exit 1; }
# Without the plugin the compressed data cannot be read: the filter really is in use.
if h5dump -d /params/dense/kernel "$tmp/ckpt1/default/data.h5" >/dev/null 2>&1; then
  echo "h5dump read compressed data without the zstd plugin?"; exit 1
fi
echo "h5py and h5dump read the checkpoint"
