"""The real Orbax (and TensorStore) judging checkpoints that cairn's ocdbt backend wrote.

  python check_orbax_restores_cairn.py CASES.json

CASES.json: a list of {"root": manager root, "step": N, "want": npz of the HDF5 twin's arrays by
key path (h5py's reads: bfloat16 as float32), "twin_metadata": the twin's cairn `_METADATA`,
"min_data_files": least number of data files holding the merged database's indirect values,
"config_backend": the backend name cli_fixture stored in its "config" item}.

For each case, every Orbax restore call below that works must give every leaf bit for bit as the
twin holds it (arrays by bytes, bfloat16 through its exact float32; scalars by their stored bits;
strings; JSON leaves as their JSON text); StandardCheckpointer, PyTreeCheckpointer and at least
one of the CheckpointManager calls must work. Then TensorStore reads every key of the item's
top-level OCDBT database and of each ocdbt.process_<r>/ database, and tensorstore.ocdbt.dump
decodes each manifest and every B+tree node reachable from it (node statistics checked); the
top-level database holds exactly the union of the per-process keys. Prints what each Orbax call
did; exits 1 on any failure.
"""

import json
import os
import pathlib
import struct
import sys
import traceback

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # int64 / float64 leaves restore as themselves

import numpy as np  # noqa: E402
import orbax.checkpoint as ocp  # noqa: E402
import tensorstore as ts  # noqa: E402

FAILURES = []


def fail(what):
  FAILURES.append(what)
  print("FAIL:", what)


def key_name(path):
  parts = []
  for k in path:
    for attr in ("key", "idx", "name"):
      if hasattr(k, attr):
        parts.append(str(getattr(k, attr)))
        break
    else:
      parts.append(str(k))
  return ".".join(parts)


def flatten(tree):
  return {key_name(p): v for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def compare(label, restored, want, twin):
  """restored: the item's tree from Orbax. want: npz of arrays. twin: cairn _METADATA."""
  got = flatten(restored)
  twin_leaves = {l["key_path"]: l for l in twin["leaves"]}
  if sorted(got) != sorted(twin_leaves):
    fail(f"{label}: leaves {sorted(got)} != cairn's {sorted(twin_leaves)}")
  bad = 0
  for key, leaf in sorted(twin_leaves.items()):
    if key not in got:
      continue
    g = got[key]
    kind = leaf["kind"]
    err = None
    if kind == "array":
      a = np.asarray(g)
      w = want[key]
      if a.dtype.name != leaf["dtype"]:
        err = f"dtype {a.dtype.name}, saved {leaf['dtype']}"
      elif list(a.shape) != leaf["global_shape"]:
        err = f"shape {a.shape}, saved {leaf['global_shape']}"
      else:
        if a.dtype.name == "bfloat16":
          a = a.astype(np.float32)  # exact, as h5py's read of the twin
        if a.dtype != w.dtype or a.tobytes(order="C") != np.asarray(w).tobytes(order="C"):
          err = f"values differ from the HDF5 twin ({a.dtype} {a.ravel()[:4]} vs {w.ravel()[:4]})"
    elif kind == "scalar":
      bits = int(leaf["bits"], 16)
      dt = np.dtype(leaf["dtype"])
      v = np.asarray(g)
      if v.shape != ():
        err = f"scalar restored with shape {v.shape}"
      elif dt.kind == "f":
        fv = float(v)
        packed = struct.pack("<d", fv) if dt.itemsize == 8 else struct.pack("<f", fv)
        if int.from_bytes(packed, "little") != bits:
          err = f"scalar {fv!r} ({v.dtype}), saved bits {leaf['bits']} ({leaf['value']!r})"
      elif int(v) != leaf["value"] or v.dtype.kind not in "iub":
        err = f"scalar {v!r} ({v.dtype}), saved {leaf['value']!r}"
    elif kind == "string":
      if g != leaf["value"]:
        err = f"string {g!r}, saved {leaf['value']!r}"
    elif kind == "json":
      # Orbax has no JSON leaf: cairn stores it as a string leaf holding the JSON text.
      try:
        ok = isinstance(g, str) and json.loads(g) == leaf["value"]
      except ValueError:
        ok = False
      if not ok:
        err = f"JSON leaf restored as {g!r}, saved {leaf['value']!r}"
    if err:
      bad += 1
      fail(f"{label}: {key}: {err}")
  return bad == 0


def twin_rows(twin):
  for l in twin["leaves"]:
    if l["key_path"] == "params.w":
      return l["global_shape"][0]
  return None


def try_restore(label, fn, want, twin, results):
  try:
    restored = fn()
  except Exception as e:  # noqa: BLE001: every failure is reported, with its text
    msg = f"{type(e).__name__}: {e}".splitlines()
    results[label] = "error: " + " ".join(msg)[:600]
    print(f"  {label}: ERROR {results[label]}")
    if os.environ.get("CAIRN_TEST_VERBOSE"):
      traceback.print_exc()
    return None
  ok = compare(label, restored, want, twin)
  results[label] = "ok" if ok else "restored, values differ"
  print(f"  {label}: {results[label]}")
  return restored


def file_of(loc):
  """'value:ocdbt.process_0/:d/ab12:0:2911' -> 'ocdbt.process_0/:d/ab12' (base path, file)."""
  return loc.split(":", 1)[1].rsplit(":", 2)[0]


def walk_nodes(base, loc, seen_files, label):
  """Dumps every node below `loc`, checking its statistics; adds the files of indirect values to
  `seen_files`; returns (keys, tree bytes)."""
  node = ts.ocdbt.dump(base, loc).result()
  keys, total = 0, int(loc.rsplit(":", 1)[1])
  for e in node["entries"]:
    if "location" in e:
      k, b = walk_nodes(base, e["location"], seen_files, label)
      st = e["statistics"]
      if st["num_keys"] != k or st["num_tree_bytes"] != b:
        fail(f"{label}: node {e['location']}: statistics {st}, its subtree has {k} keys, "
             f"{b} node bytes")
      keys, total = keys + k, total + b
    else:
      keys += 1
      if "indirect_value" in e:
        seen_files.add(file_of(e["indirect_value"]))
  return keys, total


def check_database(db_dir, label):
  """Reads every key and dumps the manifest and every node; returns (keys, data files seen)."""
  kv = ts.KvStore.open({"driver": "ocdbt", "base": "file://" + str(db_dir) + "/"}).result()
  keys = sorted(k.decode() for k in kv.list().result())
  for k in keys:
    r = kv.read(k).result()
    if r.state != "value":
      fail(f"{label}: key {k!r} listed but reads as {r.state}")
  manifest = ts.ocdbt.dump(kv.base).result()
  versions = manifest["versions"]
  if not versions:
    fail(f"{label}: manifest has no version")
    return keys, set()
  root = versions[-1]["root"]
  files = set()
  if "location" in root:
    n, b = walk_nodes(kv.base, root["location"], files, label)
    st = root["statistics"]
    if st["num_keys"] != n or st["num_keys"] != len(keys) or st["num_tree_bytes"] != b:
      fail(f"{label}: root statistics {st}; nodes hold {n} keys, {b} bytes; {len(keys)} listed")
  elif keys:
    fail(f"{label}: empty root, but {len(keys)} keys listed")
  return keys, files


def main():
  cases = json.loads(pathlib.Path(sys.argv[1]).read_text())
  from importlib import metadata
  packages = ("orbax-checkpoint", "tensorstore", "jax")
  print(", ".join(f"{p} {metadata.version(p)}" for p in packages) +
        f", {len(jax.devices())} device(s)")
  for case in cases:
    root = pathlib.Path(case["root"]).resolve()
    step = int(case["step"])
    item = root / str(step) / "default"
    want = np.load(case["want"])
    twin = json.loads(pathlib.Path(case["twin_metadata"]).read_text())
    print(f"== {item}")
    results = {}
    try_restore("StandardCheckpointer().restore(item)",
                lambda: ocp.StandardCheckpointer().restore(item), want, twin, results)
    try_restore("PyTreeCheckpointer().restore(item)",
                lambda: ocp.PyTreeCheckpointer().restore(item), want, twin, results)

    def manager_restore(item_names=None, **kw):
      with ocp.CheckpointManager(root, item_names=item_names) as m:
        if step not in m.all_steps():
          raise RuntimeError(f"CheckpointManager sees steps {m.all_steps()}, not {step}")
        return m.restore(step, **kw)

    def composite_restore():
      r = manager_restore(item_names=("default", "config"), args=ocp.args.Composite(
          default=ocp.args.StandardRestore(), config=ocp.args.JsonRestore()))
      config = {"rows": twin_rows(twin), "backend": case.get("config_backend", "ocdbt")}
      if r["config"] != config:
        fail(f"{item}: Composite restore: config item {r['config']}, saved {config}")
      return r["default"]

    try_restore("CheckpointManager(root).restore(step)", manager_restore, want, twin, results)
    try_restore("CheckpointManager(root).restore(step, args=StandardRestore())",
                lambda: manager_restore(args=ocp.args.StandardRestore()), want, twin, results)
    try_restore("CheckpointManager(root, item_names=(default, config)).restore(step, "
                "args=Composite(default=StandardRestore(), config=JsonRestore()))",
                composite_restore, want, twin, results)
    for label in ("StandardCheckpointer().restore(item)", "PyTreeCheckpointer().restore(item)"):
      if results[label] != "ok":
        fail(f"{item}: {label}: {results[label]}")
    if not any(v == "ok" for k, v in results.items() if k.startswith("CheckpointManager")):
      fail(f"{item}: no CheckpointManager restore call works")

    # TensorStore: the merged database and each per-process one.
    top_keys, top_files = check_database(item, f"{item}/manifest.ocdbt")
    proc_keys = set()
    for p in sorted(item.glob("ocdbt.process_*")):
      k, _ = check_database(p, f"{p}/manifest.ocdbt")
      if proc_keys & set(k):
        fail(f"{p}: keys also in another process's database: {sorted(proc_keys & set(k))[:5]}")
      proc_keys |= set(k)
    if proc_keys and set(top_keys) != proc_keys:
      fail(f"{item}: merged keys differ from the union of the per-process ones: "
           f"only merged {sorted(set(top_keys) - proc_keys)[:5]}, "
           f"only per-process {sorted(proc_keys - set(top_keys))[:5]}")
    print(f"  TensorStore: {len(top_keys)} keys, "
          f"{len(list(item.glob('ocdbt.process_*')))} per-process databases, "
          f"{len(top_files)} data files of indirect values in the merged B+tree")
    if len(top_files) < case.get("min_data_files", 0):
      fail(f"{item}: the merged B+tree's indirect values lie in {len(top_files)} data files, "
           f"want at least {case['min_data_files']}")
  if FAILURES:
    print(f"check_orbax_restores_cairn: {len(FAILURES)} failure(s)")
    sys.exit(1)
  print("check_orbax_restores_cairn: Orbax restores every case equal to the HDF5 twin")


if __name__ == "__main__":
  main()
