#!/usr/bin/env python3
"""Reads the databases write_sample_ocdbt wrote with the real TensorStore and checks them.

Usage: check_tensorstore_interop.py <out_dir>   (run with a Python that has tensorstore)
For each <out_dir>/<db>.json: the ocdbt kvstore lists exactly the expected keys with the
expected values; tensorstore.ocdbt.dump decodes the manifest (config, one generation, its
statistics) and every B+tree node; every zarr3 array opens and reads back bit-exact (dtype,
shape, bytes); and the same key/value pairs written by TensorStore itself in one commit with the
same config give the same B+tree (node heights, keys, prefixes, values, statistics).
Exit status 0 if all hold, 1 otherwise (every failure is printed).
"""
import glob
import importlib.metadata
import json
import os
import sys
import tempfile

import numpy as np
import tensorstore as ts

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)
    return cond


def ocdbt_spec(root, path=""):
    return {"driver": "ocdbt", "base": "file://" + root, "path": path}


def canon_tree(base, loc):
    """A B+tree as nested lists, independent of where values and nodes were placed (file names,
    offsets, and so num_tree_bytes, since a node's data file table depends on the placement)."""
    node = ts.ocdbt.dump(base, loc).result()
    out = [node["height"]]
    for e in node["entries"]:
        item = [bytes(e["key"]).hex()]
        if "inline_value" in e:
            item.append(("inline", bytes(e["inline_value"]).hex()))
        elif "indirect_value" in e:
            item.append(("indirect", int(e["indirect_value"].rsplit(":", 1)[1])))
        else:
            stats = dict(e["statistics"])
            stats.pop("num_tree_bytes")
            item += [bytes(e["subtree_common_prefix"]).hex(), sorted(stats.items()),
                     canon_tree(base, e["location"])]
        out.append(item)
    return out


def count_nodes(base, loc, heights):
    """Appends every node's height; returns the sum of the nodes' encoded sizes."""
    node = ts.ocdbt.dump(base, loc).result()
    heights.append(node["height"])
    total = int(loc.rsplit(":", 1)[1])
    for e in node["entries"]:
        if "location" in e:
            child_bytes = count_nodes(base, e["location"], heights)
            check(e["statistics"]["num_tree_bytes"] == child_bytes,
                  "num_tree_bytes %d of %s, its nodes have %d" %
                  (e["statistics"]["num_tree_bytes"], e["location"], child_bytes))
            total += child_bytes
    return total


def check_database(expected_path):
    with open(expected_path) as f:
        exp = json.load(f)
    root = exp["root"]
    name = os.path.basename(root)
    cfg = exp["config"]
    print("==", name)
    kv = ts.KvStore.open(ocdbt_spec(root)).result()

    # Keys and values.
    keys = [k.decode() for k in kv.list().result()]
    check(sorted(keys) == sorted(exp["keys"]), "%s: TensorStore lists %d keys, expected %d" %
          (name, len(keys), len(exp["keys"])))
    for key, value_hex in exp["keys"].items():
        got = kv.read(key).result()
        check(got.state == "value" and bytes(got.value).hex() == value_hex,
              "%s: value of %r differs" % (name, key))

    # Manifest and nodes.
    manifest = ts.ocdbt.dump(kv.base).result()
    c = manifest["config"]
    if cfg["zstd"]:
        check(c["compression"] is not None and c["compression"]["id"] == "zstd" and
              c["compression"].get("level", 0) == cfg["zstd_level"],
              "%s: compression %r" % (name, c["compression"]))
    else:
        check(c["compression"] is None, "%s: compression %r" % (name, c["compression"]))
    for field in ["max_inline_value_bytes", "max_decoded_node_bytes", "version_tree_arity_log2"]:
        check(c[field] == cfg[field], "%s: config %s = %r" % (name, field, c[field]))
    versions = manifest["versions"]
    check(len(versions) == 1 and versions[0]["generation_number"] == 1,
          "%s: versions %r" % (name, versions))
    check(manifest["version_tree_nodes"] == [], "%s: version tree nodes" % name)
    gen = versions[-1]
    stats = gen["root"]["statistics"]
    check(stats["num_keys"] == len(exp["keys"]), "%s: num_keys %r" % (name, stats))
    inline_limit = cfg["max_inline_value_bytes"]
    indirect = sum(len(v) // 2 for v in exp["keys"].values() if len(v) // 2 > inline_limit)
    check(stats["num_indirect_value_bytes"] == indirect,
          "%s: num_indirect_value_bytes %d, expected %d" %
          (name, stats["num_indirect_value_bytes"], indirect))
    heights = []
    if "location" in gen["root"]:
        tree_bytes = count_nodes(kv.base, gen["root"]["location"], heights)
        check(stats["num_tree_bytes"] == tree_bytes, "%s: num_tree_bytes %d, nodes have %d" %
              (name, stats["num_tree_bytes"], tree_bytes))
    else:
        check(not exp["keys"], "%s: empty root but keys expected" % name)
    check(gen["root_height"] == exp["root_height"] and gen["root_height"] >= exp["min_root_height"],
          "%s: root height %d" % (name, gen["root_height"]))
    data_files = sorted(os.listdir(os.path.join(root, "d"))) if exp["data_files"] else []
    check(len(data_files) >= exp["min_data_files"] and
          sorted(f[2:] for f in exp["data_files"]) == data_files,
          "%s: data files %r" % (name, data_files))
    check(all(len(f) == 32 and all(ch in "0123456789abcdef" for ch in f) for f in data_files),
          "%s: data file names" % name)
    print("   %d keys, root height %d, %d nodes, %d data files" %
          (len(keys), gen["root_height"], len(heights), len(data_files)))

    # zarr3 arrays through TensorStore's zarr3 driver over the ocdbt kvstore.
    for array_name, a in exp["arrays"].items():
        arr = ts.open({"driver": "zarr3", "kvstore": ocdbt_spec(root, array_name + "/")},
                      open=True, read=True).result()
        check(arr.dtype.name == a["dtype"], "%s/%s: dtype %s" % (name, array_name, arr.dtype.name))
        check(list(arr.shape) == a["shape"], "%s/%s: shape %r" % (name, array_name, arr.shape))
        data = np.ascontiguousarray(arr.read().result())
        with open(a["data"], "rb") as f:
            want = f.read()
        check(data.tobytes() == want, "%s/%s: elements differ" % (name, array_name))
    print("   %d arrays bit-exact" % len(exp["arrays"]))

    # TensorStore writing the same pairs in one commit with the same config.
    if not exp["keys"]:
        return
    with tempfile.TemporaryDirectory() as tmp:
        config = {"max_inline_value_bytes": cfg["max_inline_value_bytes"],
                  "max_decoded_node_bytes": cfg["max_decoded_node_bytes"],
                  "version_tree_arity_log2": cfg["version_tree_arity_log2"],
                  "compression": ({"id": "zstd", "level": cfg["zstd_level"]}
                                  if cfg["zstd"] else None)}
        spec = ocdbt_spec(tmp)
        spec["config"] = config
        theirs = ts.KvStore.open(spec).result()
        txn = ts.Transaction()
        for key, value_hex in exp["keys"].items():
            theirs.with_transaction(txn)[key] = bytes.fromhex(value_hex)
        txn.commit_async().result()
        their_manifest = ts.ocdbt.dump(theirs.base).result()
        their_gen = their_manifest["versions"][-1]
        mine = canon_tree(kv.base, gen["root"]["location"])
        tree = canon_tree(theirs.base, their_gen["root"]["location"])
        check(their_gen["root_height"] == gen["root_height"],
              "%s: TensorStore's own tree has height %d, ours %d" %
              (name, their_gen["root_height"], gen["root_height"]))
        same = check(mine == tree, "%s: the B+tree differs from the one TensorStore writes" % name)
        their_stats = dict(their_gen["root"]["statistics"])
        check(their_stats.pop("num_tree_bytes") and
              their_stats == {k: v for k, v in stats.items() if k != "num_tree_bytes"},
              "%s: statistics %r vs TensorStore's %r" % (name, stats, their_stats))
        if same:
            print("   same B+tree as TensorStore writes for these pairs (%d nodes)" % len(heights))


def main():
    out = sys.argv[1]
    print("tensorstore", importlib.metadata.version("tensorstore"))
    paths = sorted(glob.glob(os.path.join(out, "*.json")))
    check(len(paths) >= 4, "expected at least 4 databases under %s" % out)
    for path in paths:
        try:
            check_database(path)
        except Exception as e:  # a TensorStore error is a failed check, not a crash
            check(False, "%s: %s: %s" % (path, type(e).__name__, e))
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
