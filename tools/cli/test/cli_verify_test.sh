#!/usr/bin/env bash
# `cairn verify` and `cairn diff` on real checkpoints written by cli_fixture under MPI: intact
# fixtures of both backends (compressed or not) verify at NP ranks; damaged copies (flipped bytes
# in data.h5 and in ref.<rank>.bin, a truncated file, a deleted data file, a piece dropped from
# _METADATA, unparsable metadata) give exit 1 with findings naming the key path and the file, the
# same at 1 and NP ranks; fixtures written at different rank counts and with different backends
# compare identical, a perturbed one differs in exactly one element by 0.5.
# Usage: cli_verify_test.sh CAIRN FIXTURE NP [mpiexec args...]   (env PYTHON: a python3)
set -uo pipefail
CAIRN=$1 FIXTURE=$2 NP=$3
shift 3
MPI_ARGS=("$@")
PY=${PYTHON:-python3}
# Open MPI's mpirun waits a second or two before reaping a job whose ranks exit non-zero; most
# runs here do (exit 1: damage found). Ignored by other MPIs.
export OMPI_MCA_odls_base_sigkill_timeout=${OMPI_MCA_odls_base_sigkill_timeout:-0}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

fail() { echo "FAIL: $*"; exit 1; }
mpi() { local n=$1; shift; mpiexec "${MPI_ARGS[@]}" -n "$n" "$@"; }
# run_cairn N ARGS...: stdout in $T/out, stderr in $T/err, exit code in $rc.
run_cairn() { local n=$1; shift; rc=0; mpi "$n" "$CAIRN" "$@" >"$T/out" 2>"$T/err" || rc=$?; }
want_rc() {
  [ "$rc" -eq "$1" ] || fail "$2: exit $rc, expected $1; stdout: $(head -c 3000 "$T/out"); stderr: $(head -c 2000 "$T/err")"
}
fixture() { local n=$1 dir=$2; shift 2; mpi "$n" "$FIXTURE" "$T/$dir" "$@" >/dev/null || fail "cli_fixture $dir $*"; }
check() { "$PY" "$T/check.py" "$@" || fail "check $*"; }

cat >"$T/check.py" <<'EOF'
import glob, json, os, struct, sys

def load(p):
    with open(p) as f:
        return json.load(f)

def meta_pieces(ckpt):
    return sum(len(l.get("pieces") or []) for m in glob.glob(os.path.join(ckpt, "*", "_METADATA"))
               for l in load(m)["leaves"])

def leaf(ckpt, key):
    return next(l for l in load(os.path.join(ckpt, "default", "_METADATA"))["leaves"]
                if l["key_path"] == key)

def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]

def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "intact":  # OUT NCHECKPOINTS: intact, and piece counts match _METADATA
    j = load(args[0])
    assert j["command"] == "verify" and j["intact"] is True, j
    assert len(j["checkpoints"]) == int(args[1]), j
    for c in j["checkpoints"]:
        assert c["intact"] is True and c["problems"] == [], c
        assert c["pieces"] == meta_pieces(c["path"]) > 0, (c, meta_pieces(c["path"]))
        assert c["leaves"] == 10 and c["bytes"] > 0, c
elif cmd == "same":  # OUT1 OUT2: the same findings (verify) or differences (diff)
    a, b = load(args[0]), load(args[1])
    key = "checkpoints" if "checkpoints" in a else "differences"
    assert a[key] == b[key], (a[key], b[key])
elif cmd == "expect":  # OUT EXPR: EXPR holds over P (verify problems) or D (diff differences)
    j = load(args[0])
    P = [p for c in j.get("checkpoints", []) for p in c["problems"]]
    D = j.get("differences", [])
    env = dict(P=P, D=D, J=j, meta_pieces=meta_pieces, leaf=leaf)
    if not eval("(" + args[1] + ")", env):
        sys.exit("expectation failed: %s\nP=%s\nD=%s" % (args[1], json.dumps(P, indent=1),
                                                       json.dumps(D, indent=1)))
elif cmd == "flip_h5":  # CKPT: flip a byte of params.w row 20 (step 1 values) in data.h5
    path = os.path.join(args[0], "default", "data.h5")
    data = open(path, "rb").read()
    pat = struct.pack("<4f", *[f32(1.0 + f32(f32(0.001) * g)) for g in range(460, 464)])
    assert data.count(pat) == 1, "params.w row 20 not found once in data.h5"
    flip(path, data.index(pat) + 2)
elif cmd == "flip_ref":  # CKPT: flip a byte inside params.w's last piece; prints its file
    p = leaf(args[0], "params.w")["pieces"][-1]
    flip(os.path.join(args[0], "default", p["location"]["file"]), p["location"]["offset"] + 9)
    print(p["location"]["file"], p["writer_rank"])
elif cmd == "drop_piece":  # CKPT KEY: remove the last piece of KEY from _METADATA
    path = os.path.join(args[0], "default", "_METADATA")
    m = load(path)
    l = next(l for l in m["leaves"] if l["key_path"] == args[1])
    assert len(l["pieces"]) >= 2, "need a leaf with two pieces"
    l["pieces"].pop()
    with open(path, "w") as f:
        json.dump(m, f, indent=1)
elif cmd == "copy_config":  # FROM_ROOT TO_ROOT: the fixture's config item names its backend
    for step in ("1", "2"):
        src = os.path.join(args[0], step, "config", "metadata")
        with open(os.path.join(args[1], step, "config", "metadata"), "wb") as f:
            f.write(open(src, "rb").read())
else:
    sys.exit("unknown check " + cmd)
EOF

# A rank count other than NP, for "written at one rank count, read at another".
OTHER=$([ "$NP" -eq 1 ] && echo 2 || echo 1)
fixture "$NP" h5z                                   # hdf5, compressed (chunked + zstd)
fixture "$NP" h5 --compression 0                    # hdf5, contiguous
fixture "$OTHER" h5o --compression 0
fixture "$NP" ref --backend reference --compression 0
fixture "$NP" refz --backend reference
fixture "$NP" pw --perturb params.w

# ---- verify: intact fixtures ----
run_cairn "$NP" verify "$T/h5z" --json
want_rc 0 "verify h5z"
check intact "$T/out" 2
# Every fixture's steps in one directory (names ending in digits: steps), read in 1 KiB slabs.
mkdir "$T/all"
for d in h5z h5 h5o ref refz; do cp -r "$T/$d/1" "$T/all/$d-1" && cp -r "$T/$d/2" "$T/all/$d-2"; done
run_cairn "$NP" verify "$T/all" --json --memory 1KiB
want_rc 0 "verify all fixtures"
check intact "$T/out" 10
run_cairn "$NP" verify "$T/h5z/2" --memory 1KiB
want_rc 0 "verify --memory 1KiB"
grep -Eq "^verified 1 checkpoint, 10 leaves, [0-9]+ pieces, .* on $NP ranks? in .*: intact$" "$T/out" ||
  fail "verify summary line: $(cat "$T/out")"

# ---- verify: damage, one damaged checkpoint each, all in $T/dmg ----
mkdir "$T/dmg"
damaged() { cp -r "$T/$2" "$T/dmg/$1"; }  # damaged NAME SOURCE_CHECKPOINT

# Flipped bytes in a contiguous hdf5 dataset: one checksum mismatch, in the piece holding row 20.
damaged flip_h5 h5/1
check flip_h5 "$T/dmg/flip_h5"
# A flipped byte in a reference backend file: the piece of that file.
damaged flip_ref ref/2
read -r ref_file ref_rank < <("$PY" "$T/check.py" flip_ref "$T/dmg/flip_ref") || fail "flip_ref"
# A truncated reference file: its pieces past the end are unreadable, named with the file.
damaged trunc ref/2
truncate -s 100 "$T/dmg/trunc/default/ref.0.bin"
# A deleted data.h5: every piece of the item.
damaged nodata h5z/1
rm "$T/dmg/nodata/default/data.h5"
# A piece dropped from _METADATA: a missing region of that leaf (a fixture written by >= 2 ranks).
damaged dropped "$([ "$NP" -ge 2 ] && echo h5 || echo h5o)/1"
check drop_piece "$T/dmg/dropped" params.w
# Unparsable metadata: a tree item's _METADATA, a JSON item's file, _CHECKPOINT_METADATA.
damaged badmeta refz/1
echo '{"leaves": [' >"$T/dmg/badmeta/default/_METADATA"
echo '{"rows": ' >"$T/dmg/badmeta/config/metadata"
damaged badckpt refz/2
echo 'nonsense' >"$T/dmg/badckpt/_CHECKPOINT_METADATA"

# At NP ranks and at 1 rank (in 1 KiB slabs there): the same findings.
run_cairn "$NP" verify "$T/dmg" --json
want_rc 1 "verify damaged at $NP ranks"
cp "$T/out" "$T/dmg.json"
run_cairn 1 verify "$T/dmg" --json --memory 1KiB
want_rc 1 "verify damaged at 1 rank"
check same "$T/dmg.json" "$T/out"
# expect_damage NAME EXPR: EXPR holds over P, the findings of checkpoint NAME.
expect_damage() {
  check expect "$T/dmg.json" "(lambda P: $2)([p for c in J['checkpoints'] if c['path'].endswith('/$1') for p in c['problems']])"
}
check expect "$T/dmg.json" 'not J["intact"] and len(J["checkpoints"]) == 7 and
  all(not c["intact"] for c in J["checkpoints"])'
expect_damage flip_h5 'len(P) == 1 and P[0]["key_path"] == "params.w" and
  P[0]["item"] == "default" and P[0]["file"] == "data.h5" and
  P[0]["problem"].startswith("checksum mismatch (stored 0x") and
  P[0]["piece"]["origin"][0] <= 20 < P[0]["piece"]["origin"][0] + P[0]["piece"]["shape"][0]'
expect_damage flip_ref "len(P) == 1 and P[0]['key_path'] == 'params.w' and
  P[0]['file'] == '$ref_file' and P[0]['piece']['writer_rank'] == $ref_rank and
  'checksum mismatch' in P[0]['problem']"
expect_damage trunc 'len(P) >= 1 and all(p["file"] == "ref.0.bin" and
  "truncated" in p["problem"] and p["piece"] is not None for p in P) and
  "params.w" in [p["key_path"] for p in P]'
expect_damage nodata "len(P) == meta_pieces('$T/dmg/nodata') and
  all(p['file'] == 'data.h5' and 'does not exist' in p['problem'] for p in P) and
  {p['key_path'] for p in P} == {'counts', 'emb', 'flags', 'params.b', 'params.w', 'zero_d'}"
expect_damage dropped 'len(P) == 1 and P[0]["key_path"] == "params.w" and
  P[0]["problem"].startswith("missing region [") and P[0]["piece"] is None'
expect_damage badmeta 'len(P) == 2 and
  P[0]["item"] == "config" and P[0]["file"] == "metadata" and "JSON" in P[0]["problem"] and
  P[1]["item"] == "default" and P[1]["file"] == "_METADATA"'
expect_damage badckpt 'len(P) == 1 and P[0]["file"] == "_CHECKPOINT_METADATA"'
# Text: one line per finding naming the checkpoint, item, key path, piece, writer and file.
run_cairn "$NP" verify "$T/dmg/flip_h5"
want_rc 1 "verify flip_h5 (text)"
grep -Eq '^flip_h5/default: params\.w: piece \[[0-9]+:[0-9]+, 0:23\] written by rank [0-9]+: checksum mismatch \(stored 0x[0-9a-f]{16}, computed 0x[0-9a-f]{16}\) in data\.h5$' "$T/out" ||
  fail "verify flip_h5 text: $(cat "$T/out")"
[ "$(wc -l <"$T/out")" -eq 2 ] && grep -q ': 1 problem$' "$T/out" ||
  fail "verify flip_h5 summary: $(cat "$T/out")"

# Could not run: a missing path, a root without committed steps.
run_cairn "$NP" verify "$T/no/such/dir"
want_rc 2 "verify missing path"
grep -q "^cairn verify: .*no/such/dir: no such directory$" "$T/err" || fail "verify missing: $(cat "$T/err")"
mkdir "$T/empty"
run_cairn "$NP" verify "$T/empty"
want_rc 2 "verify root without steps"
grep -q "no committed steps" "$T/err" || fail "verify empty: $(cat "$T/err")"

# ---- diff ----
# Written at NP and at another rank count: identical (many slabs with --memory 1KiB).
run_cairn "$NP" diff "$T/h5" "$T/h5o" --memory 1KiB
want_rc 0 "diff h5 (np $NP) vs h5o (np $OTHER)"
[ "$(tail -n 1 "$T/out")" = identical ] || fail "diff h5 h5o: $(cat "$T/out")"
# Across backends: only the config item (it records the backend) differs; with it equalised,
# identical.
run_cairn "$NP" diff "$T/h5z" "$T/refz" --json
want_rc 1 "diff hdf5 vs reference"
check expect "$T/out" 'len(D) == 2 and all(d["item"] == "config" and d["problem"] == "file" for d in D)'
cp -r "$T/refz" "$T/refc"
check copy_config "$T/h5z" "$T/refc"
run_cairn "$NP" diff "$T/h5z" "$T/refc" --memory 1KiB --json
want_rc 0 "diff hdf5 vs reference, same config"
check expect "$T/out" 'J["identical"] is True and D == []'
# Perturbed params.w: exactly one element, by 0.5, in every step; same at 1 rank.
run_cairn "$NP" diff "$T/h5z" "$T/pw" --json --memory 1KiB
want_rc 1 "diff perturbed"
cp "$T/out" "$T/pw.json"
check expect "$T/pw.json" 'J["identical"] is False and len(D) == 2 and all(
  d["key_path"] == "params.w" and d["problem"] == "values" and d["differing"] == 1 and
  d["elements"] == 851 and d["max_abs_diff"] == 0.5 and d["first_index"] == [0, 7] for d in D) and
  [d["step"] for d in D] == ["1", "2"]'
if [ "$NP" -ne 1 ]; then
  run_cairn 1 diff "$T/h5z" "$T/pw" --json --memory 1KiB
  want_rc 1 "diff perturbed at 1 rank"
  check same "$T/pw.json" "$T/out"
fi
run_cairn "$NP" diff "$T/h5z/2" "$T/pw/2"
want_rc 1 "diff perturbed (text)"
[ "$(cat "$T/out")" = "params.w: 1 of 851 elements differ, max |a-b| = 0.5 (first at [0, 7])
1 leaf differs" ] || fail "diff perturbed text: $(cat "$T/out")"
run_cairn "$NP" diff "$T/h5z/2" "$T/pw/2" --atol 0.5
want_rc 0 "diff perturbed --atol 0.5"
# Different steps: every array and scalar but flags and note differs.
run_cairn "$NP" diff "$T/h5/1" "$T/h5/2" --json
want_rc 1 "diff step 1 vs 2"
check expect "$T/out" 'sorted(d["key_path"] for d in D) ==
  ["counts", "emb", "lr", "params.b", "params.w", "step", "zero_d"] and
  [d["abs_diff"] for d in D if d["key_path"] == "step"] == [1.0]'
# Could not run: a missing path, one line on stderr (under mpiexec, and as a singleton).
run_cairn "$NP" diff "$T/h5" "$T/missing"
want_rc 2 "diff missing path"
[ "$(grep -c '^cairn diff: ' "$T/err")" -eq 1 ] || fail "diff missing: $(cat "$T/err")"
rc=0
"$CAIRN" diff "$T/missing" "$T/h5" >"$T/out" 2>"$T/err" || rc=$?
want_rc 2 "diff missing path (singleton)"
[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "^cairn diff: .*missing: no such directory$" "$T/err" ||
  fail "diff missing (singleton): $(cat "$T/err")"
echo "PASS: cli_verify_test at $NP ranks"
