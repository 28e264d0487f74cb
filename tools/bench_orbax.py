#!/usr/bin/env python3
"""Orbax (and plain TensorStore) save/restore times for the tree cairn-bench writes.

    JAX_PLATFORMS=cpu build-venv/bin/python tools/bench_orbax.py --size 256MiB --leaves 4 \
        --compression on --runs 3 --json out.json

The tree mirrors cairn-bench's: `--leaves` float32 2-D arrays `leaf_0000`, ... sharing `--size`
bytes, each (ranks * rows_per_rank) x cols with cols <= 4096 (cairn-bench's MakeState, with
`--ranks` the cairn rank count whose global shape to copy; for power-of-two sizes every rank
count gives the same shape). The values are uniform in [0, 1) with 24 random bits, the
distribution of cairn-bench's `--fill hash` (numpy's float32 `random()` draws 24-bit
mantissas the same way), so zstd finds as little to squeeze on both sides.

Per run, for each implementation in `--impls` (order alternates between runs):
  orbax          ocp.Checkpointer(PyTreeCheckpointHandler(use_ocdbt=True, use_zarr3=True,
                 use_compression=...)).save of jax.Arrays on the CPU device: synchronous, so the
                 time includes the commit (tmp dir, OCDBT writes, fsyncs, rename). Restore with
                 explicit ArrayRestoreArgs (shape, dtype, SingleDeviceSharding on CPU 0) into
                 jax.Arrays, blocked until ready ("restore"); with `--restore-meta on` also a
                 restore without a target (Orbax reads the metadata and sharding file itself,
                 "restore_meta").
  tensorstore    TensorStore directly: one zarr3 array per leaf in one OCDBT database, the array
                 metadata Orbax writes (sharding_indexed, one shard per array, zstd level 3 when
                 compressing), all leaves written concurrently; read back into numpy.
Between a save and each restore every file written is flushed and dropped from the page cache
(fsync + posix_fadvise(POSIX_FADV_DONTNEED), untimed), as cairn-bench --cold on does, unless
`--cold off`. Restored values are compared with the saved ones (untimed). Before the timed runs
a 1 MiB tree is saved and restored once per implementation (untimed) so that thread pools and
lazy imports are not charged to the first run. GB = 1e9 bytes.
"""

import argparse
import asyncio  # noqa: F401  (orbax needs it loaded before jax in some versions)
import json
import os
import re
import shutil
import statistics
import sys
import time
import warnings

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402


def parse_size(text):
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]i?B?|B)?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r}")
    n, unit = int(m.group(1)), (m.group(2) or "").upper()
    if unit in ("", "B"):
        return n
    power = "KMGT".index(unit[0]) + 1
    return n * (1024 if "I" in unit else 1000) ** power


def on_off(text):
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError("takes on or off")
    return text == "on"


def cairn_shape(size, leaves, ranks):
    """cairn-bench's MakeState: (global rows, cols) of each leaf."""
    leaf_elems = size // 4 // leaves
    cols = 4096
    while cols > 1 and leaf_elems // cols < ranks:
        cols //= 2
    rows_per_rank = leaf_elems // cols // ranks
    if rows_per_rank < 1:
        sys.exit(f"bench_orbax: --size is too small for {ranks} ranks")
    return rows_per_rank * ranks, cols


def make_tree(shape, leaves, seed):
    rng = np.random.default_rng(seed)
    return {f"leaf_{i:04d}": rng.random(shape, dtype=np.float32) for i in range(leaves)}


def drop_from_cache(root):
    """fsync + POSIX_FADV_DONTNEED every regular file under root (cairn-bench's DropTreeFromCache)."""
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def tree_bytes(root):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)


def settle():
    os.sync()


class OrbaxImpl:
    name = "orbax"

    def __init__(self, compression):
        import jax
        import orbax.checkpoint as ocp

        self.jax, self.ocp = jax, ocp
        self.device = jax.devices("cpu")[0]
        self.compression = compression

    def _checkpointer(self):
        handler = self.ocp.PyTreeCheckpointHandler(
            use_ocdbt=True, use_zarr3=True, use_compression=self.compression)
        return self.ocp.Checkpointer(handler)

    def prepare(self, host_tree):
        jax = self.jax
        state = {k: jax.device_put(v, self.device) for k, v in host_tree.items()}
        jax.block_until_ready(state)
        return state

    def save(self, path, state):
        ckptr = self._checkpointer()
        t0 = time.perf_counter()
        ckptr.save(path, args=self.ocp.args.PyTreeSave(state))  # synchronous: until committed
        dt = time.perf_counter() - t0
        ckptr.close()
        return dt

    def restore(self, path, state, with_target=True):
        jax, ocp = self.jax, self.ocp
        ckptr = self._checkpointer()
        sharding = jax.sharding.SingleDeviceSharding(self.device)
        t0 = time.perf_counter()
        if with_target:
            target = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=sharding)
                      for k, v in state.items()}
            restore_args = {k: ocp.ArrayRestoreArgs(sharding=sharding, global_shape=v.shape,
                                                    dtype=v.dtype)
                            for k, v in state.items()}
            out = ckptr.restore(path, args=ocp.args.PyTreeRestore(item=target,
                                                                 restore_args=restore_args))
        else:
            with warnings.catch_warnings():  # "Sharding info not provided": that is the point
                warnings.simplefilter("ignore")
                out = ckptr.restore(path)
        jax.block_until_ready(out)
        dt = time.perf_counter() - t0
        ckptr.close()
        return dt, {k: np.asarray(v) for k, v in out.items()}


class TensorStoreImpl:
    name = "tensorstore"

    def __init__(self, compression):
        import tensorstore as ts

        self.ts = ts
        self.compression = compression

    def _context(self):
        # Orbax's: file I/O concurrency 128, a 100 MB cache pool for OCDBT B-tree nodes.
        return self.ts.Context({"file_io_concurrency": {"limit": 128},
                                "cache_pool#ocdbt": {"total_bytes_limit": 100000000}})

    def _spec(self, path, key, shape, create):
        codecs = [{"name": "bytes", "configuration": {"endian": "little"}}]
        if self.compression:
            codecs.append({"name": "zstd", "configuration": {"level": 3}})
        spec = {
            "driver": "zarr3",
            "kvstore": {"driver": "ocdbt", "base": f"file://{path}", "path": key,
                        "cache_pool": "cache_pool#ocdbt"},
        }
        if create:
            spec["metadata"] = {
                "shape": list(shape), "data_type": "float32",
                "chunk_grid": {"name": "regular",
                               "configuration": {"chunk_shape": list(shape)}},
                "codecs": [{"name": "sharding_indexed", "configuration": {
                    "chunk_shape": list(shape), "codecs": codecs,
                    "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                                     {"name": "crc32c"}],
                    "index_location": "end"}}],
            }
            spec["create"] = True
        return spec

    def prepare(self, host_tree):
        return host_tree

    def save(self, path, state):
        ts = self.ts
        t0 = time.perf_counter()
        ctx = self._context()
        opened = [ts.open(self._spec(path, k, v.shape, True), context=ctx) for k, v in state.items()]
        stores = [f.result() for f in opened]
        writes = [s.write(v) for s, v in zip(stores, state.values())]
        for w in writes:
            w.commit.result()
        del stores, ctx
        return time.perf_counter() - t0

    def restore(self, path, state, with_target=True):
        ts = self.ts
        t0 = time.perf_counter()
        ctx = self._context()
        opened = [ts.open(self._spec(path, k, v.shape, False), context=ctx, open=True)
                  for k, v in state.items()]
        stores = [f.result() for f in opened]
        reads = [s.read() for s in stores]
        out = {k: r.result() for k, r in zip(state.keys(), reads)}
        dt = time.perf_counter() - t0
        return dt, out


def verify(saved, restored, who, run):
    for k, v in saved.items():
        r = restored.get(k)
        if r is None or r.shape != v.shape or r.dtype != v.dtype or not np.array_equal(r, v):
            sys.exit(f"bench_orbax: {who} restore of run {run} returned different values for {k}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=parse_size, default=parse_size("256MiB"),
                   help="total bytes of the tree (256MiB, 1GiB, 100MB)")
    p.add_argument("--leaves", type=int, default=1, help="number of float32 arrays sharing --size")
    p.add_argument("--ranks", type=int, default=1,
                   help="cairn rank count whose global shape to copy (Orbax runs one process)")
    p.add_argument("--compression", type=on_off, default=False, help="zstd level 3: on|off")
    p.add_argument("--runs", type=int, default=3, help="timed repetitions")
    p.add_argument("--impls", default="orbax",
                   help="comma-separated: orbax, tensorstore (default orbax)")
    p.add_argument("--restore-meta", type=on_off, default=False,
                   help="orbax: also restore without a target (metadata-inferred): on|off")
    p.add_argument("--cold", type=on_off, default=True,
                   help="drop written files from the page cache before each restore: on|off")
    p.add_argument("--dir", default=None, help="output directory (default /tmp/bench-orbax-<pid>)")
    p.add_argument("--json", default=None, help="write the results as JSON to this file")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    if a.leaves < 1 or a.runs < 1:
        p.error("--leaves and --runs must be >= 1")
    impl_names = [s for s in a.impls.split(",") if s]
    makers = {"orbax": OrbaxImpl, "tensorstore": TensorStoreImpl}
    for n in impl_names:
        if n not in makers:
            p.error(f"unknown implementation {n!r} (orbax, tensorstore)")
    root = a.dir or f"/tmp/bench-orbax-{os.getpid()}"
    os.makedirs(root, exist_ok=True)

    rows, cols = cairn_shape(a.size, a.leaves, a.ranks)
    host = make_tree((rows, cols), a.leaves, a.seed)
    nbytes = sum(v.nbytes for v in host.values())
    impls = [makers[n](a.compression) for n in impl_names]

    # Untimed warm-up on a 1 MiB tree: thread pools, lazy imports, Orbax's first-call setup.
    small = make_tree((64, 4096), 1, a.seed + 1)
    for impl in impls:
        st = impl.prepare(small)
        wpath = os.path.join(root, f"warmup-{impl.name}")
        shutil.rmtree(wpath, ignore_errors=True)
        impl.save(wpath, st)
        verify(small, impl.restore(wpath, st)[1], impl.name, "warmup")
        shutil.rmtree(wpath)

    results = {n: {"save": [], "restore": [], "restore_meta": [], "stored_bytes": []}
               for n in impl_names}
    for run in range(a.runs):
        order = impls if run % 2 == 0 else impls[::-1]
        for impl in order:
            rec = results[impl.name]
            state = impl.prepare(host)
            path = os.path.join(root, f"{impl.name}-{run}")
            shutil.rmtree(path, ignore_errors=True)
            settle()
            rec["save"].append(impl.save(path, state))
            rec["stored_bytes"].append(tree_bytes(path))
            restores = [("restore", True)]
            if a.restore_meta and impl.name == "orbax":
                restores.append(("restore_meta", False))
            for key, with_target in restores:
                if a.cold:
                    drop_from_cache(path)
                dt, out = impl.restore(path, state, with_target)
                rec[key].append(dt)
                verify(host, out, impl.name, run)
                del out
            del state
            shutil.rmtree(path)
            settle()
            print(f"run {run}: {impl.name} save {rec['save'][-1]:.3f}s restore "
                  f"{rec['restore'][-1]:.3f}s"
                  + (f" restore_meta {rec['restore_meta'][-1]:.3f}s" if rec["restore_meta"] else ""),
                  file=sys.stderr)
    shutil.rmtree(root, ignore_errors=True)

    from importlib import metadata

    out = {"bytes": nbytes, "leaves": a.leaves, "global_shape": [rows, cols], "dtype": "float32",
           "compression": a.compression, "compression_level": 3 if a.compression else None,
           "cold": a.cold, "runs": a.runs, "dir": root,
           "versions": {d: metadata.version(d)
                        for d in ("orbax-checkpoint", "jax", "jaxlib", "tensorstore", "numpy")},
           "impls": {}}
    print(f"bench_orbax: {nbytes} bytes in {a.leaves} leaf(s) of {rows} x {cols} float32, "
          f"compression {'on (zstd 3)' if a.compression else 'off'}, cold "
          f"{'on' if a.cold else 'off'}, {a.runs} run(s); GB = 1e9 bytes")
    for name, rec in results.items():
        entry = {}
        for phase in ("save", "restore", "restore_meta"):
            secs = rec[phase]
            if not secs:
                continue
            med = statistics.median(secs)
            entry[phase] = {"seconds": secs, "median_seconds": med,
                            "median_gbps": nbytes / med / 1e9,
                            "min_gbps": nbytes / max(secs) / 1e9,
                            "max_gbps": nbytes / min(secs) / 1e9}
            print(f"  {name:12s} {phase:13s} median {entry[phase]['median_gbps']:.3f} GB/s "
                  f"({med:.3f} s)")
        entry["compression_ratio"] = nbytes / statistics.median(rec["stored_bytes"])
        out["impls"][name] = entry
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
