"""Writes real Orbax checkpoints (zarr3 + OCDBT) for cairn_restores_orbax_np*: cairn must restore
them bit-exactly at any rank count.

  python make_orbax_checkpoints.py OUT [--zarr2]

  OUT/mgr_z/<1,2,3>/default      CheckpointManager, compression on (zstd), 3 steps
  OUT/mgr_raw/<1,2,3>/default    CheckpointManager, compression off
  OUT/standard/                  StandardCheckpointer (the directory is the item, no default/)
  OUT/expected/<ckpt>.npz        every array leaf by key path ("params.kernel"), as Orbax reads it
  OUT/expected/<ckpt>.json       {"values": scalars and strings by key path,
                                  "arrays": {key: {"dtype", "shape"}}}
  (<ckpt> is mgr_z.1, ..., mgr_raw.3, standard)
  OUT/v2/1/default               with --zarr2: CheckpointManager, use_zarr3=False (Orbax's default)

Run with the venv's Python (orbax-checkpoint, jax[cpu]); it sets 4 CPU devices and jax x64 (for
int64 / float64 leaves) itself.
"""

import json
import os
import pathlib
import sys

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=4")
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import orbax.checkpoint as ocp  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # noqa: E402


def make_tree(step, mesh):
  """Every leaf kind: sharded on both mesh axes, on one axis (replicated on the other), fully
  replicated, 0-d, odd shapes, a dtype each, python scalars and a string."""
  rng = np.random.default_rng(100 + step)

  def put(x, spec):
    return jax.device_put(x, NamedSharding(mesh, spec))

  def ar(shape, dtype, scale=1.0, offset=0.0):
    n = int(np.prod(shape))
    return (np.arange(n, dtype=np.float64).reshape(shape) * scale + offset + step).astype(dtype)

  return {
      "params": {
          "kernel": put(ar((8, 6), np.float32, 0.25), P("x", "y")),        # 4 shards of 4 x 3
          "odd": put(ar((7, 5), np.float32, -0.5), P()),                   # odd, replicated
          "bias": put(ar((3,), jnp.bfloat16, 0.5, -1), P()),               # odd, bf16
          # Sharded on x, replicated on y.
          "embed": put(ar((6, 4), jnp.bfloat16, 0.125, -3), P("x", None)),
          # 2 KiB shards of noise: stay above TensorStore's inline limit after zstd, so they are
          # indirect values in d/ files (the corruption check truncates one).
          "big": put(rng.standard_normal((64, 48)).astype(np.float32), P("x", "y")),
      },
      "ints": {
          "i32": put(ar((4, 6), np.int32, 3, -40), P(None, "y")),
          "i8": put(ar((10,), np.int8, -7, 5), P("x")),
          "u8": put(ar((2, 9), np.uint8, 11), P("x", None)),
          "i64": put(ar((3, 5), np.int64, 1 << 33, -(1 << 40)), P()),
      },
      "mask": put(np.arange(12).reshape(4, 3) % (step + 1) == 0, P("y", None)),
      "half": put(ar((4, 4), np.float16, 0.3, -2), P("y", "x")),
      "f64": put(ar((5,), np.float64, 1 / 3), P()),
      "count": put(np.asarray(10 + step, np.int32), P()),                  # 0-d
      "lr_arr": put(np.asarray(1e-3 * step, np.float32), P()),             # 0-d
      "step": int(step),                                                   # python int
      "lr": 0.1 / step,                                                    # python float
      "name": f"orbax-step-{step}",                                        # string
  }


def flat(tree):
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    out[".".join(str(k.key) for k in path)] = leaf
  return out


def write_expected(out_dir, name, tree):
  arrays, values, meta = {}, {}, {}
  for key, leaf in flat(tree).items():
    if isinstance(leaf, jax.Array):
      a = np.array(leaf, order="C")
      arrays[key] = a
      meta[key] = {"dtype": str(a.dtype), "shape": list(a.shape)}
    else:
      values[key] = leaf
  np.savez(out_dir / f"{name}.npz", **arrays)
  (out_dir / f"{name}.json").write_text(json.dumps({"values": values, "arrays": meta}, indent=1))


def main():
  out = pathlib.Path(sys.argv[1]).resolve()
  assert jax.device_count() == 4, jax.devices()
  mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("x", "y"))
  expected = out / "expected"
  expected.mkdir(parents=True, exist_ok=True)
  for mgr_name, compression in (("mgr_z", True), ("mgr_raw", False)):
    handler = ocp.PyTreeCheckpointHandler(use_zarr3=True, use_compression=compression)
    with ocp.CheckpointManager(out / mgr_name,
                               options=ocp.CheckpointManagerOptions(max_to_keep=None),
                               item_handlers=handler) as mngr:
      for step in (1, 2, 3):
        tree = make_tree(step, mesh)
        mngr.save(step, args=ocp.args.PyTreeSave(tree))
        mngr.wait_until_finished()
        write_expected(expected, f"{mgr_name}.{step}", tree)
  # StandardCheckpointHandler has no use_zarr3: swap in a PyTreeCheckpointHandler that has it.
  # It refuses strings ("Unsupported type"), so the standard tree has none.
  tree = make_tree(7, mesh)
  del tree["name"]
  ckptr = ocp.StandardCheckpointer()
  ckptr._handler._impl = ocp.PyTreeCheckpointHandler(use_zarr3=True)
  ckptr.save(out / "standard", tree)
  ckptr.wait_until_finished()
  ckptr.close()
  write_expected(expected, "standard", tree)
  if "--zarr2" in sys.argv[2:]:
    with ocp.CheckpointManager(out / "v2", item_handlers=ocp.PyTreeCheckpointHandler()) as mngr:
      mngr.save(1, args=ocp.args.PyTreeSave(make_tree(1, mesh)))
      mngr.wait_until_finished()
    assert not json.loads((out / "v2/1/default/_METADATA").read_text())["use_zarr3"]
  for item in [out / m / str(s) / "default" for m in ("mgr_z", "mgr_raw") for s in (1, 2, 3)] + [
      out / "standard"]:
    meta = json.loads((item / "_METADATA").read_text())
    assert meta["use_ocdbt"] and meta["use_zarr3"], item
    assert (item / "manifest.ocdbt").is_file(), item
  print(f"make_orbax_checkpoints: wrote {out}")


if __name__ == "__main__":
  main()
