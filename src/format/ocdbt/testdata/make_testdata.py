#!/usr/bin/env python3
"""Writes the small OCDBT databases under this directory with TensorStore, plus expected.json.

Run from anywhere with a Python that has tensorstore==0.1.86 (and numpy, ml_dtypes):
    python3 -m venv build-venv && build-venv/bin/pip install tensorstore==0.1.86
    build-venv/bin/python src/format/ocdbt/testdata/make_testdata.py
The databases are rewritten from scratch (uuids, data file names and commit times are random, so
every run gives different bytes; the unit tests only compare against expected.json).
"""
import base64
import hashlib
import json
import os
import shutil
import sys

import ml_dtypes
import numpy as np
import tensorstore as ts

HERE = os.path.dirname(os.path.abspath(__file__))
TS_VERSION = "0.1.86"


def ocdbt_spec(root, config=None, path=""):
    spec = {"driver": "ocdbt", "base": "file://" + root, "path": path}
    if config is not None:
        spec["config"] = config
    return spec


def zarr3_spec(kvstore, dtype, shape, chunk, compress=True, zstd_config=None):
    """The zarr3 metadata Orbax writes: one sharding_indexed codec holding one inner chunk."""
    inner = [{"name": "bytes", "configuration": {"endian": "little"}}]
    if compress:
        zstd = {"name": "zstd"}
        if zstd_config is not None:
            zstd["configuration"] = zstd_config
        inner.append(zstd)
    return {
        "driver": "zarr3",
        "kvstore": kvstore,
        "metadata": {
            "shape": shape,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk}},
            "chunk_key_encoding": {"name": "default"},
            "codecs": [{
                "name": "sharding_indexed",
                "configuration": {
                    "chunk_shape": chunk,
                    "codecs": inner,
                    "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                                     {"name": "crc32c"}],
                    "index_location": "end",
                },
            }],
            "data_type": dtype,
        },
        "create": True,
        "delete_existing": False,
    }


def write_array(kvstore, name, dtype, shape, chunk, values, compress=True, zstd_config=None):
    kv = dict(kvstore)
    kv["path"] = kv.get("path", "") + name + "/"
    arr = ts.open(zarr3_spec(kv, dtype, shape, chunk, compress, zstd_config)).result()
    arr[...] = values
    return arr


def fresh(name):
    root = os.path.join(HERE, name)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    return root


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), written out so the C++ tests need no sha256."""
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def hexs(b):
    return bytes(b).hex()


def normalize_btree(node):
    """A B+tree node dump with bytes as hex (keys, prefixes, inline values)."""
    out = {"height": node["height"], "entries": []}
    for e in node["entries"]:
        n = {"key": hexs(e["key"])}
        if "inline_value" in e:
            n["inline_value"] = hexs(e["inline_value"])
        if "indirect_value" in e:
            n["indirect_value"] = e["indirect_value"]
        if "location" in e:
            n["location"] = e["location"]
            n["subtree_common_prefix"] = hexs(e["subtree_common_prefix"])
            n["statistics"] = e["statistics"]
        out["entries"].append(n)
    return out


def walk_nodes(base, manifest):
    """Dumps of every B+tree node of the latest generation and every version-tree node."""
    nodes = {}
    todo = []
    root = manifest["versions"][-1]["root"]
    if "location" in root:
        todo.append(root["location"])
    todo += [v["location"] for v in manifest["version_tree_nodes"]]
    while todo:
        loc = todo.pop()
        node = ts.ocdbt.dump(base, loc).result()
        if loc.startswith("btreenode:"):
            nodes[loc] = normalize_btree(node)
            todo += [e["location"] for e in node["entries"] if "location" in e]
        else:
            nodes[loc] = node
            todo += [e["location"] for e in node["entries"] if "location" in e]
    return nodes


def dump_contents(root):
    """Every key of the latest generation (size, sha256, hex if short), manifest and nodes."""
    kv = ts.KvStore.open(ocdbt_spec(root)).result()
    keys = {}
    for key in kv.list().result():
        value = kv.read(key).result().value
        entry = {"size": len(value), "sha256": hashlib.sha256(value).hexdigest(),
                 "crc32c": crc32c(value)}
        if len(value) <= 64:
            entry["hex"] = value.hex()
        keys[key.decode()] = entry
    manifest = ts.ocdbt.dump(kv.base).result()
    arrays = {}
    for key in keys:
        if not key.endswith("zarr.json"):
            continue
        name = key[:-len("zarr.json")]
        spec = {"driver": "zarr3", "kvstore": ocdbt_spec(root, path=name)}
        arr = ts.open(spec, open=True).result()
        data = np.ascontiguousarray(arr.read().result())
        raw = data.astype(data.dtype.newbyteorder("<")).tobytes()
        arrays[name.rstrip("/")] = {"data_type": arr.dtype.name, "shape": list(arr.shape),
                                    "size": len(raw), "crc32c": crc32c(raw)}
    return {"keys": keys, "manifest": manifest, "nodes": walk_nodes(kv.base, manifest),
            "arrays": arrays}


# The worked example of ocdbt-format.md 1.12, byte for byte (CRCs included): TensorStore must
# read it back, or the example is wrong.
SPEC_FILE = "d/0123456789abcdef0123456789abcdef"
SPEC_LEAF = bytes.fromhex("0cdb20de" "5200000000000000" "0000" "00" "012200") + \
    SPEC_FILE.encode() + bytes.fromhex("02" "02" "0509") + b"x/c/0" + b"zarr.json" + \
    bytes.fromhex("1002" "0100" "00" "00") + b"{}" + bytes.fromhex("427c5d2e")
SPEC_MANIFEST = bytes.fromhex("0cdb3a2a" "6200000000000000" "0000") + bytes(range(16)) + \
    bytes.fromhex("00" "8008" "80c2d72f" "04" "00" "012200") + SPEC_FILE.encode() + \
    bytes.fromhex("01" "01" "00" "00" "10" "52" "02" "52" "10") + \
    (1700000000000000000).to_bytes(8, "little") + bytes.fromhex("00" "98ec7fd4")
SPEC_VALUE = bytes(range(0x30, 0x40))


def write_spec_example():
    root = fresh("spec_example")
    os.makedirs(os.path.join(root, "d"))
    with open(os.path.join(root, SPEC_FILE), "wb") as f:
        f.write(SPEC_VALUE + SPEC_LEAF)
    with open(os.path.join(root, "manifest.ocdbt"), "wb") as f:
        f.write(SPEC_MANIFEST)
    result = {"leaf_size": len(SPEC_LEAF), "manifest_size": len(SPEC_MANIFEST),
              "leaf_crc_ok": crc32c(SPEC_LEAF[:-4]).to_bytes(4, "little") == SPEC_LEAF[-4:],
              "manifest_crc_ok":
                  crc32c(SPEC_MANIFEST[:-4]).to_bytes(4, "little") == SPEC_MANIFEST[-4:]}
    try:
        kv = ts.KvStore.open(ocdbt_spec(root)).result()
        result["tensorstore_reads"] = {k.decode(): kv.read(k).result().value.hex()
                                       for k in kv.list().result()}
    except Exception as e:  # recorded, so a wrong example shows up in expected.json
        result["tensorstore_error"] = str(e)
    return result


def write_merged(rng):
    """Orbax's multi-process layout: per-process databases copied by reference into the parent
    (one atomic transaction, one shared context), as ocdbt_utils.merge_ocdbt_per_process_files."""
    root = fresh("merged")
    ctx = ts.Context()
    cfg = {"compression": {"id": "zstd"}, "max_inline_value_bytes": 1024,
           "max_decoded_node_bytes": 100000000, "version_tree_arity_log2": 4}
    for p in range(2):
        child = ocdbt_spec(root + "/ocdbt.process_%d/" % p, cfg)
        child["assume_config"] = True
        kv = dict(child)
        arr = ts.open(zarr3_spec(dict(kv, path="w/"), "float32", [2, 100], [1, 100]),
                      context=ctx).result()
        arr[p:p + 1, :] = rng.standard_normal((1, 100)).astype(np.float32)
        if p == 0:
            arr2 = ts.open(zarr3_spec(dict(kv, path="b/"), "int32", [4], [4]),
                           context=ctx).result()
            arr2[...] = np.arange(4, dtype=np.int32)
    parent_spec = ocdbt_spec(root + "/", cfg)
    parent_spec["assume_config"] = True
    parent = ts.KvStore.open(parent_spec, context=ctx).result()
    txn = ts.Transaction(atomic=True)
    for p in range(2):
        child = ts.KvStore.open(ocdbt_spec(root + "/ocdbt.process_%d/" % p), context=ctx).result()
        child.experimental_copy_range_to(parent.with_transaction(txn)).result()
    txn.commit_async().result()


def write_numbered(rng):
    """manifest_kind numbered: manifest.ocdbt holds the config, manifest.<16 hex> the versions."""
    root = fresh("numbered")
    kvs = ocdbt_spec(root, {"manifest_kind": "numbered", "max_inline_value_bytes": 8})
    kv = ts.KvStore.open(kvs).result()
    for i in range(3):
        kv["n/%d" % i] = bytes(rng.integers(0, 256, 4 + 6 * i, dtype=np.uint8))


def write_fuzz_seeds(expected):
    """Seed corpora for the fuzzers (fuzz/run_fuzz.sh): each node, zarr.json and shard."""
    seeds = os.path.join(HERE, "seeds")
    shutil.rmtree(seeds, ignore_errors=True)
    for kind in ["manifest", "btree", "version_tree", "shard", "zarr_json"]:
        os.makedirs(os.path.join(seeds, kind))
    count = 0

    def put(kind, data):
        nonlocal count
        count += 1
        with open(os.path.join(seeds, kind, "%03d" % count), "wb") as f:
            f.write(data)

    for db, contents in expected["databases"].items():
        root = os.path.join(HERE, db)
        for name in os.listdir(root):
            if name.startswith("manifest."):
                with open(os.path.join(root, name), "rb") as f:
                    put("manifest", f.read())
        for loc in contents["nodes"]:
            kind, base, rel, offset, length = loc.split(":")
            with open(os.path.join(root, base + rel), "rb") as f:
                f.seek(int(offset))
                data = f.read(int(length))
            put("btree" if kind == "btreenode" else "version_tree", data)
        kv = ts.KvStore.open(ocdbt_spec(root)).result()
        for key in contents["keys"]:
            if key.endswith("zarr.json"):
                put("zarr_json", kv.read(key).result().value)
            elif "/c" in key and db != "raw_multi":
                put("shard", b"\x01" + kv.read(key).result().value)  # first byte: chunk count


def main():
    rng = np.random.default_rng(5)
    expected = {"tensorstore_version": TS_VERSION, "databases": {}}

    # 1. Uncompressed nodes, tiny node limit (interior B+tree nodes), arity 2 (version-tree
    #    nodes of height 1 and 2), small inline limit (values inline and in d/ files), a
    #    deleted range, and an uncompressed zarr3 array.
    root = fresh("raw_multi")
    cfg = {"compression": None, "max_decoded_node_bytes": 300,
           "max_inline_value_bytes": 24, "version_tree_arity_log2": 2}
    kvs = ocdbt_spec(root, cfg)
    kv = ts.KvStore.open(kvs).result()
    for gen in range(16):
        txn = ts.Transaction()
        for i in range(6):
            key = "k/%03d/%02d" % (gen, i)
            size = [0, 3, 24, 25, 40, 100][i]
            kv.with_transaction(txn)[key] = bytes(rng.integers(0, 256, size, dtype=np.uint8))
        txn.commit_async().result()
    kv.delete_range(ts.KvStore.KeyRange("k/003/", "k/004/")).result()
    write_array(kvs, "arr", "float32", [6, 4], [3, 4],
                rng.standard_normal((6, 4)).astype(np.float32), compress=False)

    # 2. Orbax's config: zstd nodes, inline limit 1024, arrays of several dtypes, one commit
    #    per array (generation 1 is the empty tree written before the first commit).
    root2 = fresh("zstd_orbax")
    cfg2 = {"compression": {"id": "zstd"}, "max_inline_value_bytes": 1024,
            "max_decoded_node_bytes": 100000000, "version_tree_arity_log2": 4}
    kvs2 = ocdbt_spec(root2, cfg2)
    write_array(kvs2, "params.dense.kernel", "float32", [16, 32], [8, 32],
                rng.standard_normal((16, 32)).astype(np.float32))
    write_array(kvs2, "params.dense.bias", "bfloat16", [32], [32],
                rng.standard_normal(32).astype(ml_dtypes.bfloat16),
                zstd_config={"level": 5, "checksum": True})
    write_array(kvs2, "step", "int64", [], [], np.int64(1234))
    write_array(kvs2, "mask", "bool", [5], [5], np.array([1, 0, 1, 1, 0], dtype=bool))

    write_merged(rng)
    write_numbered(rng)

    expected["spec_example"] = write_spec_example()
    for name in ["raw_multi", "zstd_orbax", "merged", "numbered"]:
        expected["databases"][name] = dump_contents(os.path.join(HERE, name))

    write_fuzz_seeds(expected)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=0, sort_keys=True, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
