"""Reads a checkpoint written by write_sample with h5py and checks every value.

Usage: h5py_check.py CHECKPOINT_DIR
Exit 77 (skipped) when h5py is not importable.
"""
import json
import os
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"SKIP: h5py not available: {e}")
    sys.exit(77)

ckpt = sys.argv[1]
path = os.path.join(ckpt, "default", "data.h5")
meta = json.load(open(os.path.join(ckpt, "default", "_METADATA")))
assert meta["format_version"] == 1 and meta["backend"] == "hdf5", meta
with h5py.File(path, "r") as f:
    k = f["params/dense/kernel"]
    assert k.shape == (6, 4), k.shape
    want = np.arange(24, dtype=np.float32).reshape(6, 4)
    assert np.array_equal(k[...], want), k[...]
    assert k.attrs["cairn_dtype"] in (b"float32", "float32"), k.attrs["cairn_dtype"]
    assert list(k.attrs["global_shape"]) == [6, 4]
    flags = f["flags"][...]
    assert flags.dtype == np.bool_ and flags.tolist() == [True, False, True], flags
    c = f["c"][...]
    assert c.dtype == np.complex64 and c.tolist() == [1 + 2j, 3 - 4j], c
    half = f["half"][...]
    assert half.dtype == np.float16 and half.tolist() == [0.5, 3.0], half
    bf = f["bf"]
    attr = bf.attrs["cairn_dtype"]
    assert attr in (b"bfloat16", "bfloat16"), attr
    # HDF5 converts the custom 16-bit float to a native float on read.
    assert np.array_equal(bf.astype(np.float32)[...], np.array([1.5, -2.0], np.float32)), bf[...]
    assert f["big"][...].tolist() == [1 << 40, -7]
print("h5py read every value correctly")
