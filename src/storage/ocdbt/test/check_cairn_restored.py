"""Compares what orbax_restore_fixture restored (OUT) with what Orbax saved (EXPECTED.npz and
EXPECTED.json from make_orbax_checkpoints.py), bit for bit, on every one of NP ranks.

  python check_cairn_restored.py OUT EXPECTED NP

Checks: ReadItemMetadata's leaves are exactly Orbax's (arrays with Orbax's dtype and shape,
scalars and strings with the values Restore gives); every array's bytes (whole-array files assembled from the ranks'
pieces, or each rank's own copy for 0-d and replicated targets) equal Orbax's; every rank restored
every scalar and string with Orbax's value and type. Prints each difference, exits 1 on any.
"""

import json
import pathlib
import sys

import numpy as np


def main():
  out, want_prefix, nprocs = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
  want_arrays = np.load(want_prefix + ".npz")
  want = json.loads(pathlib.Path(want_prefix + ".json").read_text())
  meta = json.loads((out / "meta.json").read_text())
  errors = []

  expected_keys = sorted(want["arrays"]) + sorted(want["values"])
  if sorted(meta) != sorted(expected_keys):
    errors.append(f"leaves: cairn {sorted(meta)} != Orbax {sorted(expected_keys)}")

  for key, m in sorted(want["arrays"].items()):
    got = meta.get(key)
    if got is None:
      continue
    if (got.get("kind"), got.get("dtype"), got.get("shape")) != ("array", m["dtype"], m["shape"]):
      errors.append(f"{key}: metadata {got} != Orbax's array {m}")
      continue
    data = want_arrays[key].tobytes(order="C")  # raw bytes: bfloat16 compares as bit patterns
    files = [out / f"{key}.bin"]
    if not files[0].exists():
      files = [out / f"r{r}" / f"{key}.bin" for r in range(nprocs)]
    for f in files:
      if not f.exists():
        errors.append(f"{key}: {f} not written")
        continue
      b = f.read_bytes()
      if b != data:
        diff = next((i for i in range(min(len(b), len(data))) if b[i] != data[i]), None)
        errors.append(f"{key}: {f.relative_to(out)} differs ({len(b)} bytes, want {len(data)}; "
                      f"first differing byte {diff})")

  for r in range(nprocs):
    vf = out / f"values.r{r}.json"
    if not vf.exists():
      errors.append(f"rank {r}: {vf.name} not written")
      continue
    values = json.loads(vf.read_text())
    if sorted(values) != sorted(want["values"]):
      errors.append(f"rank {r}: non-array leaves {sorted(values)} != {sorted(want['values'])}")
    for key, w in want["values"].items():
      g = values.get(key)
      if g is None:
        continue
      if isinstance(w, str):
        ok = g["kind"] == "string" and g["value"] == w
      elif isinstance(w, bool):
        ok = g["kind"] == "scalar" and g["value"] is w
      elif isinstance(w, int):
        ok = g["kind"] == "scalar" and g["dtype"].startswith(("int", "uint")) and g["value"] == w
      else:
        ok = g["kind"] == "scalar" and g["dtype"] == "float64" and g["value"] == w
      if not ok:
        errors.append(f"rank {r}: {key}: restored {g}, Orbax saved {w!r}")
      if r == 0:
        m = meta.get(key, {})
        if m.get("kind") != g["kind"] or m.get("value") != g["value"]:
          errors.append(f"{key}: ReadItemMetadata gives {m}, Restore gives {g}")

  for e in errors:
    print("  " + e)
  if errors:
    sys.exit(1)
  print(f"{out}: {len(want['arrays'])} arrays and {len(want['values'])} values equal Orbax's "
        f"on {nprocs} rank(s)")


if __name__ == "__main__":
  main()
