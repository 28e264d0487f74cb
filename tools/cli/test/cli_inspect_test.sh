#!/usr/bin/env bash
# `cairn ls`, `cairn tree`, `cairn gc` and `cairn convert` on real checkpoints written under MPI by
# cli_fixture; convert (and the fixture) run under mpiexec with NP ranks.
# Usage: cli_inspect_test.sh CAIRN FIXTURE NP [mpiexec args...]   (env PYTHON: python3 with h5py)
set -euo pipefail
cairn=$(realpath "$1") fixture=$(realpath "$2") np=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
shift 3
launch=(mpiexec "$@")
py=${PYTHON:-python3}
# Open MPI waits about 2 s after a rank exits non-zero before killing the rest; the failures here
# are expected ones.
export OMPI_MCA_odls_base_sigkill_timeout=${OMPI_MCA_odls_base_sigkill_timeout:-0}
export HDF5_PLUGIN_PATH=$(realpath "$(dirname "$cairn")/../src/storage/hdf5")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect CODE CMD...: runs CMD, checks its exit code, keeps stdout in out.txt, stderr in err.txt.
expect() {
  local want=$1 rc=0
  shift
  "$@" >out.txt 2>err.txt || rc=$?
  [[ $rc == "$want" ]] || { cat out.txt err.txt >&2; fail "exit $rc, expected $want: $*"; }
}
# jcheck 'python expression over j (the JSON on stdout)'
jcheck() {
  "$py" - "$1" <<'PY' || { cat out.txt >&2; fail "check failed: $1"; }
import json, sys
j = json.load(open("out.txt"))
ok = eval(sys.argv[1])
sys.exit(0 if ok else 1)
PY
}

"${launch[@]}" -n "$np" "$fixture" A --steps 3 --keep 2 --trash trash --compression 1
"${launch[@]}" -n "$np" "$fixture" B --steps 2 --backend reference --compression 0

# ---- usage errors: one line on stderr, exit 2 ----
for cmd in "" "bogus" "ls" "tree" "gc" "convert A" "ls nowhere" "tree nowhere" "ls --frobnicate A"; do
  # shellcheck disable=SC2086
  expect 2 "$cairn" $cmd
  [[ $(wc -l <err.txt) -ge 1 ]] || fail "no message for 'cairn $cmd'"
  if [[ -n $cmd ]]; then
    [[ $(wc -l <err.txt) == 1 ]] || { cat err.txt; fail "more than one line for 'cairn $cmd'"; }
  fi
done
expect 2 "$cairn" ls nowhere
grep -q "nowhere: no such directory" err.txt || fail "missing path not named"
expect 0 "$cairn" --help
grep -q "verify" out.txt || fail "--help lists no commands"

# ---- ls ----
mkdir -p A/4.cairn-tmp-abc/default && echo partial >A/4.cairn-tmp-abc/default/data.h5
expect 0 "$cairn" ls A --json
jcheck '[s["name"] for s in j["steps"]] == ["2", "3"]'
jcheck 'all(s["state"] == "committed" and s["bytes"] > 0 and s["files"] == 5 for s in j["steps"])'
jcheck 'abs(j["steps"][1]["metrics"]["loss"] - 1/3) < 1e-12 and j["steps"][0]["commit_timestamp_nsecs"] > 0'
jcheck 'sorted(j["steps"][0]["items"]) == ["config", "default"]'
jcheck '{l["name"]: l["kind"] for l in j["leftovers"]} == {"4.cairn-tmp-abc": "temporary", "trash": "trash"}'
jcheck '[l for l in j["leftovers"] if l["name"] == "trash"][0]["steps"] == 1'
jcheck 'j["bytes"] == sum(s["bytes"] for s in j["steps"])'
expect 0 "$cairn" ls A
grep -q "2 steps (latest 3)" out.txt || { cat out.txt; fail "ls text"; }
grep -q "4.cairn-tmp-abc/ *temporary" out.txt || { cat out.txt; fail "ls does not show the temporary dir"; }
expect 0 "$cairn" ls A/3 --json
jcheck 'len(j["steps"]) == 1 and j["steps"][0]["name"] == "3"'
expect 2 "$cairn" ls A/4.cairn-tmp-abc
grep -q "uncommitted (temporary)" err.txt || fail "a temporary dir is not refused clearly"

# ---- tree ----
expect 0 "$cairn" tree A --json
jcheck 'j["path"].endswith("A/3")'
jcheck '{i["name"]: i["handler"] for i in j["items"]} == {"config": "cairn.JsonCheckpointHandler", "default": "cairn.StandardCheckpointHandler"}'
jcheck '[l["key_path"] for l in j["items"][1]["leaves"]] == ["counts", "emb", "empty", "flags", "lr", "note", "params.b", "params.w", "step", "zero_d"]'
jcheck '{l["key_path"]: (l.get("dtype"), l.get("global_shape")) for l in j["items"][1]["leaves"] if l["kind"] == "array"} == {"counts": ("int32", [5, 7, 3]), "emb": ("bfloat16", [16, 8]), "empty": ("int8", [0, 4]), "flags": ("bool", [9]), "params.b": ("float64", [23]), "params.w": ("float32", [37, 23]), "zero_d": ("float32", [])}'
jcheck '{l["key_path"]: l["value"] for l in j["items"][1]["leaves"] if "value" in l} == {"lr": 0.125 / 3, "note": "fixture", "step": 3}'
jcheck 'j["items"][1]["backend"] == "hdf5" and [l for l in j["items"][1]["leaves"] if l["key_path"] == "params.w"][0]["bytes"] == 37 * 23 * 4'
# (HDF5 cannot chunk, hence compress, 0-d and empty arrays.)
jcheck '{l["key_path"] for l in j["items"][1]["leaves"] if l.get("compression") == "zstd"} == {"counts", "emb", "flags", "params.b", "params.w"}'
expect 0 "$cairn" tree B/1
grep -q "reference backend" out.txt || { cat out.txt; fail "tree text: backend"; }
grep -Eq "params.w +array +float32 +\[37, 23\]" out.txt || { cat out.txt; fail "tree text: params.w"; }

# An Orbax checkpoint (PyTreeCheckpointHandler's _METADATA and array_metadatas; the item's OCDBT
# database is one TensorStore wrote, from src/format/ocdbt/testdata): key paths, dtypes and
# shapes come from the zarr.json keys inside the database.
testdata=$here/../../../src/format/ocdbt/testdata/zstd_orbax
mkdir -p O/7
cp -r "$testdata" O/7/default
mkdir -p O/7/default/array_metadatas
echo '{"item_handlers": {"default": "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler"}, "metrics": {}, "init_timestamp_nsecs": 1, "commit_timestamp_nsecs": 2, "custom_metadata": {}}' >O/7/_CHECKPOINT_METADATA
# (No commit_success.txt: Orbax wrote none on local disks before Aug 2026; the rename commits.)
"$py" - O/7/default <<'PY'
import json, sys
tree = {}
for name in ["mask", "params.dense.bias", "params.dense.kernel", "step"]:
    keys = name.split(".")
    tree[str(tuple(keys))] = {"key_metadata": [{"key": k, "key_type": 2} for k in keys],
                              "value_metadata": {"value_type": "jax.Array", "skip_deserialize": False}}
json.dump({"tree_metadata": tree, "use_ocdbt": True, "use_zarr3": True},
          open(sys.argv[1] + "/_METADATA", "w"))
json.dump({"array_metadatas": [{"array_metadata": {"param_name": "params.dense.kernel",
                                                   "write_shape": [16, 32], "chunk_shape": [8, 32]}}]},
          open(sys.argv[1] + "/array_metadatas/process_0", "w"))
PY
expect 0 "$cairn" tree O/7 --json
jcheck 'j["items"][0]["format"] == "orbax" and j["items"][0]["backend"] == "ocdbt+zarr3"'
jcheck '{l["key_path"]: (l["dtype"], l["global_shape"], l["bytes"]) for l in j["items"][0]["leaves"]} == {"mask": ("bool", [5], 5), "params.dense.bias": ("bfloat16", [32], 64), "params.dense.kernel": ("float32", [16, 32], 2048), "step": ("int64", [], 8)}'
jcheck 'not any("error" in l for l in j["items"][0]["leaves"])'
expect 0 "$cairn" ls O --json
jcheck '[(s["name"], s["state"]) for s in j["steps"]] == [("7", "committed (no marker)")]'
expect 0 "$cairn" tree O/7
grep -Eq "params.dense.kernel +array +float32 +\[16, 32\]" out.txt || { cat out.txt; fail "tree text: Orbax leaf"; }
# A damaged database is named per leaf, not a crash.
for f in O/7/default/d/*; do : >"$f"; done
expect 0 "$cairn" tree O/7 --json
jcheck 'all("error" in l for l in j["items"][0]["leaves"])'

# ---- gc ----
expect 0 "$cairn" gc A --json
jcheck 'j["kept"][0]["name"] == "4.cairn-tmp-abc" and [r["name"] for r in j["removed"]] == ["1"]'
[[ -d A/4.cairn-tmp-abc ]] || fail "gc removed a fresh temporary directory (a save may be running)"
[[ ! -e A/trash/1 && -f A/trash/.cairn-trash ]] || fail "gc did not empty the trash (keeping its marker)"
expect 0 "$cairn" gc A --older-than 0 --dry-run
[[ -d A/4.cairn-tmp-abc ]] || fail "--dry-run removed something"
grep -q "would remove A/4.cairn-tmp-abc/" out.txt || { cat out.txt; fail "dry run text"; }
mkdir A/2.cairn-tmp-deleting-99
expect 0 "$cairn" gc A --older-than 0
[[ ! -e A/4.cairn-tmp-abc && ! -e A/2.cairn-tmp-deleting-99 ]] || fail "gc --older-than 0 left leftovers"
[[ -f A/2/commit_success.txt && -f A/3/commit_success.txt && -f A/metadata/_ROOT_METADATA ]] ||
  fail "gc touched committed steps"
expect 0 "$cairn" gc A
grep -q "nothing to remove" out.txt || { cat out.txt; fail "second gc"; }
mkdir -p notrash/keep && echo precious >notrash/keep/file
expect 2 "$cairn" gc A --trash notrash
[[ -f notrash/keep/file ]] || fail "gc emptied a directory without the trash marker"
expect 2 "$cairn" gc A/3

# ---- convert (under mpiexec, NP ranks) ----
expect 0 "${launch[@]}" -n "$np" "$cairn" convert A A_ref --to reference --memory 1KiB --json
jcheck '[c["destination"] for c in j["checkpoints"]] == ["A_ref/2", "A_ref/3"] and j["ranks"] == '"$np"
[[ -f A_ref/metadata/_ROOT_METADATA ]] || fail "convert did not carry the root metadata"
expect 0 "${launch[@]}" -n "$np" "$cairn" convert A_ref/3 A_h5 --to hdf5 --compression off
expect 0 "$cairn" tree A_h5 --json
jcheck 'j["items"][1]["backend"] == "hdf5" and all(l["compression"] == "none" for l in j["items"][1]["leaves"] if l["kind"] == "array")'
# Bounded memory: no converted piece is larger than --memory, and the pieces tile every array.
"$py" - A_ref/3/default/_METADATA <<'PY' || fail "converted pieces"
import json, sys, math
m = json.load(open(sys.argv[1]))
size = {"float32": 4, "float64": 8, "bfloat16": 2, "int32": 4, "bool": 1, "int8": 1}
for leaf in m["leaves"]:
    if leaf["kind"] != "array":
        continue
    vol = sum(math.prod(p["shape"]) for p in leaf["pieces"])
    assert vol == math.prod(leaf["global_shape"]), leaf["key_path"]
    for p in leaf["pieces"]:
        assert math.prod(p["shape"]) * size[leaf["dtype"]] <= 1024, (leaf["key_path"], p)
assert m["backend"] == "reference"
PY
# Every value survives hdf5 -> reference -> hdf5 (h5py reads the original and the result).
"$py" - A/3/default/data.h5 A_h5/default/data.h5 <<'PY' || fail "values changed in conversion"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert sorted(names) == ["counts", "emb", "empty", "flags", "params/b", "params/w", "zero_d"], names
for n in names:
    x, y = a[n][()], b[n][()]
    assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), n
PY
# hdf5 -> hdf5 (each slab is read from one HDF5 file while the other is being written).
expect 0 "${launch[@]}" -n "$np" "$cairn" convert A/2 A_h5h5 --to hdf5 --memory 512B
"$py" - A/2/default/data.h5 A_h5h5/default/data.h5 <<'PY' || fail "values changed in hdf5 -> hdf5"
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for n in ["counts", "emb", "empty", "flags", "params/b", "params/w", "zero_d"]:
    assert a[n][()].tobytes() == b[n][()].tobytes() and a[n].dtype == b[n].dtype, n
assert b["params/w"].compression is not None or b["params/w"].id.get_create_plist().get_nfilters() > 0
PY
cmp A/3/config/metadata A_h5/config/metadata || fail "the JSON item was not copied"
cmp A/3/_CHECKPOINT_METADATA A_h5/_CHECKPOINT_METADATA || fail "_CHECKPOINT_METADATA was not copied"
# Running it again converts nothing (resume); an existing checkpoint destination is refused.
expect 0 "${launch[@]}" -n "$np" "$cairn" convert A A_ref --to reference --json
jcheck 'j["checkpoints"] == [] and len(j["skipped"]) == 2'
expect 2 "${launch[@]}" -n "$np" "$cairn" convert A_ref/3 A_h5 --to hdf5
grep -q "already exists" err.txt || fail "existing destination"
expect 2 "$cairn" convert A/3 X --to bogus
grep -q "bogus: no such backend in this build of cairn (hdf5, ocdbt, reference)" err.txt ||
  { cat err.txt; fail "--to bogus message"; }
# Through the OCDBT backend and back: hdf5 -> ocdbt (NP per-process databases, merged) -> hdf5.
expect 0 "${launch[@]}" -n "$np" "$cairn" convert A/3 A_oc --to ocdbt --memory 1KiB
[[ -f A_oc/default/manifest.ocdbt && -d A_oc/default/ocdbt.process_0 ]] || fail "no OCDBT database"
expect 0 "${launch[@]}" -n "$np" "$cairn" convert A_oc A_oc_h5 --to hdf5
"$py" - A/3/default/data.h5 A_oc_h5/default/data.h5 <<'PY' || fail "values changed through ocdbt"
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for n in ["counts", "emb", "empty", "flags", "params/b", "params/w", "zero_d"]:
    assert a[n][()].tobytes() == b[n][()].tobytes() and a[n].dtype == b[n].dtype, n
PY
# A damaged source: the conversion fails on every rank naming the leaf, and leaves nothing behind.
"$py" - A_ref/3/default <<'PY'
import json, sys
d = sys.argv[1]
m = json.load(open(d + "/_METADATA"))
leaf = [l for l in m["leaves"] if l["key_path"] == "params.w"][0]
loc = leaf["pieces"][0]["location"]
with open(d + "/" + loc["file"], "r+b") as f:
    f.seek(loc["offset"] + 5)
    b = f.read(1)
    f.seek(loc["offset"] + 5)
    f.write(bytes([b[0] ^ 0xFF]))
PY
expect 2 "${launch[@]}" -n "$np" "$cairn" convert A_ref/3 BAD --to hdf5
grep -q "params.w.*fails its checksum" err.txt || { cat err.txt; fail "corrupt source not named"; }
[[ $(grep -c "^cairn convert:" err.txt) == 1 ]] || { cat err.txt; fail "corrupt source: not one line"; }
[[ ! -e BAD ]] && ! compgen -G "BAD.cairn-tmp-*" >/dev/null || fail "a failed conversion left files"
# A progress bar when stdout is a terminal (script(1) gives it one), none when it is a pipe.
"${launch[@]}" -n 1 "$fixture" P --steps 1 --big 200000 --compression 0
if command -v script >/dev/null; then
  script -qec "'$cairn' convert P/1 P_tty --to reference --memory 64KiB" /dev/null >tty.txt
  grep -q $'\r''convert 1 \[[#.]*\] *[0-9]*%' tty.txt || { od -c tty.txt | head; fail "no progress bar on a terminal"; }
fi
expect 0 "$cairn" convert P/1 P_pipe --to reference --memory 64KiB
if grep -q $'\r' out.txt; then fail "progress bar drawn into a pipe"; fi
echo "cli_inspect_test: ls, tree, gc and convert behave (np=$np)"
