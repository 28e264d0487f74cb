#!/usr/bin/env bash
# ocdbt_tensorstore_interop: write_sample_ocdbt writes databases, the real TensorStore reads them.
# Usage: run_tensorstore_interop.sh <write_sample_ocdbt> <check_tensorstore_interop.py> <work dir>
# The Python comes from CAIRN_VENV_PYTHON (tools/dev makes build-venv/ with tensorstore pinned);
# without it, or without an importable tensorstore, the test is skipped (exit 77) with the reason.
set -euo pipefail
writer=$1 checker=$2 work=$3
py=${CAIRN_VENV_PYTHON:-}
if [[ -z $py ]]; then
  echo "SKIP: CAIRN_VENV_PYTHON is not set (tools/dev test sets it to build-venv/bin/python)"
  exit 77
fi
if [[ ! -x $py ]]; then
  echo "SKIP: CAIRN_VENV_PYTHON=$py is not an executable"
  exit 77
fi
probe='import importlib.metadata, numpy, tensorstore; print(importlib.metadata.version("tensorstore"))'
if ! version=$("$py" -c "$probe" 2>&1); then
  echo "SKIP: tensorstore is not importable with $py: $version"
  exit 77
fi
echo "python $py, tensorstore $version"
"$writer" "$work"
exec "$py" "$checker" "$work"
