"""Writes real Orbax checkpoints (OCDBT + zarr3, compression on) for cairn's ocdbt_unit tests.

  orbax_manager/   CheckpointManager, steps 0 and 1, one unnamed item (`default/`)
  orbax_standard/  StandardCheckpointer, one checkpoint (the directory is the item)
  orbax_expected.json  per checkpoint item and parameter: dtype, shape, byte size, CRC-32C and
                       sha256 of the full array's C-order little-endian bytes; plus the versions

Run from the repository root, with a venv holding orbax-checkpoint and jax (CPU), see README.md:
  XLA_FLAGS=--xla_force_host_platform_device_count=4 python src/format/ocdbt/testdata/make_orbax_testdata.py
"""

import hashlib
import json
import os
import pathlib
import shutil
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import orbax.checkpoint as ocp  # noqa: E402
import tensorstore  # noqa: E402
from importlib import metadata as importlib_metadata  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def crc32c(data: bytes) -> int:
  table = []
  for i in range(256):
    c = i
    for _ in range(8):
      c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    table.append(c)
  crc = 0xFFFFFFFF
  for b in data:
    crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def make_tree(step: int, mesh: Mesh):
  """A small pytree: every leaf kind the tests need, values depending on `step`."""
  def put(x, spec):
    return jax.device_put(x, NamedSharding(mesh, spec))

  kernel = np.arange(8 * 8, dtype=np.float32).reshape(8, 8) * 0.25 + step
  emb = (np.arange(8 * 6, dtype=np.float32).reshape(8, 6) - 20 - step).astype(jnp.bfloat16)
  ids = np.arange(5, dtype=np.int32) * (7 + step) - 3
  # Shards of 2 KiB of noise stay above max_inline_value_bytes (1024) after zstd, so they are
  # indirect values in ocdbt.process_0/d/; the other leaves' shards are inline in the B+tree.
  big = np.random.default_rng(step).standard_normal((32, 64)).astype(np.float32)
  return {
      "params": {
          "dense": {
              "kernel": put(kernel, P("x", "y")),      # 2x2 mesh: 4 shards of [4, 4]
              "bias": put(np.full((6,), 0.5 + step, np.float32), P("y")),
          },
          "embed": put(emb, P("x", None)),              # sharded on x, replicated on y
          "big": put(big, P("x", "y")),
      },
      "ids": put(ids, P()),                             # fully replicated int32
      "opt_state": {
          "count": put(np.asarray(10 + step, np.int32), P()),  # 0-d
          "lr": put(np.asarray(1e-3 * (step + 1), np.float32), P()),  # 0-d
      },
  }


def leaves_by_name(tree):
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    name = ".".join(str(k.key) for k in path)
    arr = np.array(leaf, order="C")  # not ascontiguousarray: that makes 0-d arrays 1-d
    data = arr.tobytes(order="C")
    assert sys.byteorder == "little"
    out[name] = {
        "data_type": str(arr.dtype),
        "shape": list(arr.shape),
        "size": len(data),
        "crc32c": crc32c(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
  return out


def main():
  assert jax.device_count() == 4, "set XLA_FLAGS=--xla_force_host_platform_device_count=4"
  mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("x", "y"))
  manager_dir = HERE / "orbax_manager"
  standard_dir = HERE / "orbax_standard"
  for d in (manager_dir, standard_dir):
    shutil.rmtree(d, ignore_errors=True)

  items = {}
  # Orbax's own default is use_zarr3=False (zarr v2, `.zarray` keys); cairn reads zarr3, so the
  # item handler is PyTreeCheckpointHandler with use_zarr3=True (use_ocdbt, use_compression:
  # defaults, True).
  with ocp.CheckpointManager(
      manager_dir, options=ocp.CheckpointManagerOptions(max_to_keep=None),
      item_handlers=ocp.PyTreeCheckpointHandler(use_zarr3=True)) as mngr:
    for step in (0, 1):
      tree = make_tree(step, mesh)
      mngr.save(step, args=ocp.args.PyTreeSave(tree))
      mngr.wait_until_finished()
      items[f"orbax_manager/{step}/default"] = {
          "step_dir": f"orbax_manager/{step}", "arrays": leaves_by_name(tree)}

  tree = make_tree(7, mesh)
  # StandardCheckpointHandler takes no use_zarr3 (it builds a default PyTreeCheckpointHandler):
  # swap in one with use_zarr3=True, so the files still name StandardCheckpointHandler.
  ckptr = ocp.StandardCheckpointer()
  ckptr._handler._impl = ocp.PyTreeCheckpointHandler(use_zarr3=True)
  ckptr.save(standard_dir, tree)
  ckptr.wait_until_finished()
  ckptr.close()
  items["orbax_standard"] = {"step_dir": "orbax_standard", "arrays": leaves_by_name(tree)}

  # Round trip through Orbax itself, so the expected values are what Orbax reads back.
  restored = ocp.StandardCheckpointer().restore(standard_dir)
  assert leaves_by_name(restored) == items["orbax_standard"]["arrays"]

  for item in items:
    meta = json.loads((HERE / item / "_METADATA").read_text())
    assert meta["use_ocdbt"] and meta["use_zarr3"], item

  versions = {p: importlib_metadata.version(p) for p in
              ("orbax-checkpoint", "jax", "jaxlib", "tensorstore", "numpy", "ml_dtypes")}
  versions["python"] = sys.version.split()[0]
  expected = {"versions": versions, "items": items}
  (HERE / "orbax_expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
  print(json.dumps(versions))


if __name__ == "__main__":
  main()
