#!/usr/bin/env bash
# examples/train_loop.cc preempted and resumed, at NP ranks:
#   (a) reference: STEPS steps uninterrupted -> its "checksum" line A
#   (b) a second run gets SIGUSR1 on ONE rank's pid (the last rank) mid-way: it exits 0, every rank
#       prints "PREEMPTED step=P", only the signalled rank caught the signal, step P is committed
#   (c) the same command again: prints "restored step P", runs to STEPS, its checksum equals A
#       bit for bit (arrays, and every rank's random engine)
#   (d) the directory holds exactly the steps the preservation policy keeps of all steps saved by
#       (b) and (c) (the latest 2, plus the 2 with the lowest logged loss), each with its logged
#       loss in _CHECKPOINT_METADATA, and no *.cairn-tmp-* entry anywhere
# Usage: train_loop_restart.sh EXE NP BACKEND [mpiexec args...]
set -euo pipefail
exe=$1 np=$2 backend=$3
shift 3
steps=100 interval=10 target=$((np - 1))
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-train-loop-XXXXXX")
mpipid='' watchdog=''
cleanup() {
  [[ -z $watchdog ]] || kill "$watchdog" 2>/dev/null || true
  if [[ -n $mpipid ]] && kill -0 "$mpipid" 2>/dev/null; then
    kill -TERM "$mpipid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$mpipid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$mpipid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do
    [[ -e $f ]] || continue
    echo "---- $(basename "$f") ----"
    cat "$f"
  done
  echo "---- $work/ckpt ----"
  ls -la "$work/ckpt" 2>/dev/null || true
  exit 1
}
run() {  # run LOG args...: one training run in the foreground, 60 s at most
  local log=$1
  shift
  timeout -k 5 60 mpiexec "${mpi_args[@]}" -n "$np" "$exe" --steps "$steps" --interval "$interval" \
    --backend "$backend" "$@" >"$log" 2>&1
}
mpi_args=("$@")

echo "(a) reference: $np ranks, $steps steps"
run "$work/a.log" --dir "$work/reference" || fail "the reference run exited with $?"
checksum_a=$(grep '^checksum ' "$work/a.log") || fail "no checksum line in the reference run"
echo "    $checksum_a"

echo "(b) $np ranks, SIGUSR1 to rank $target mid-way"
mkdir "$work/pids"
mpiexec "${mpi_args[@]}" -n "$np" "$exe" --steps "$steps" --interval "$interval" \
  --backend "$backend" --dir "$work/ckpt" --pid-dir "$work/pids" --step-ms 30 >"$work/b.log" 2>&1 &
mpipid=$!
(for ((t = 0; t < 600; t++)); do sleep 0.1; done; kill -TERM "$mpipid") >/dev/null 2>&1 &
watchdog=$!
# Mid-way: after the save of step 30, plus 0-0.3 s so that the preempted step varies.
for ((i = 0; ; i++)); do
  ready=1
  for ((r = 0; r < np; r++)); do [[ -s $work/pids/pid.$r ]] || ready=0; done
  ((ready)) && grep -q '^saved step 30 ' "$work/b.log" && break
  kill -0 "$mpipid" 2>/dev/null || fail "run (b) ended before step 30 was saved"
  ((i < 300)) || fail "run (b) did not save step 30 within 30 s"
  sleep 0.1
done
sleep "$(printf '0.%03d' $((RANDOM % 300)))"
pid=$(cat "$work/pids/pid.$target")
kill -USR1 "$pid"
rc=0
wait "$mpipid" || rc=$?
mpipid=
kill "$watchdog" 2>/dev/null || true
watchdog=
((rc == 0)) || fail "run (b) exited with $rc"
grep -q '^checksum ' "$work/b.log" && fail "run (b) finished all $steps steps: the signal came too late"
mapfile -t lines < <(grep -E '^PREEMPTED step=[0-9]+ rank=[0-9]+$' "$work/b.log")
((${#lines[@]} == np)) || fail "expected $np PREEMPTED lines, got ${#lines[@]}"
preempted=$(printf '%s\n' "${lines[@]}" | sed -E 's/^PREEMPTED step=([0-9]+) .*/\1/' | sort -u)
[[ $(wc -l <<<"$preempted") -eq 1 ]] || fail "ranks stopped at different steps: $preempted"
for ((r = 0; r < np; r++)); do
  if ((r == target)); then
    grep -q "^rank $r caught signal" "$work/b.log" || fail "rank $r did not report the signal"
  else
    ! grep -q "^rank $r caught signal" "$work/b.log" || fail "rank $r caught the signal itself"
  fi
done
grep -q "^saved step $preempted " "$work/b.log" || fail "run (b) did not log a save of step $preempted"
[[ -f $work/ckpt/$preempted/commit_success.txt ]] || fail "step $preempted is not committed"
echo "    every rank saved step $preempted and exited 0"

echo "(c) restart: $np ranks, same command"
run "$work/c.log" --dir "$work/ckpt" || fail "the restarted run exited with $?"
grep -q "^restored step $preempted " "$work/c.log" || fail "run (c) did not restore step $preempted"
checksum_c=$(grep '^checksum ' "$work/c.log") || fail "no checksum line in the restarted run"
echo "    $checksum_c"
[[ $checksum_c == "$checksum_a" ]] || fail "checksums differ: '$checksum_a' vs '$checksum_c'"

echo "(d) kept steps"
"$PYTHON" - "$work/ckpt" "$work/b.log" "$work/c.log" <<'EOF' || fail "kept steps are wrong"
import json, os, re, sys
root, logs = sys.argv[1], sys.argv[2:]
loss = {}  # every saved step -> its loss, as logged with %.17g (exact)
for log in logs:
    for line in open(log):
        m = re.fullmatch(r"saved step (\d+) loss=(\S+)", line.strip())
        if m:
            step = int(m[1])
            if step in loss:
                sys.exit(f"step {step} was saved twice")
            loss[step] = float(m[2])
steps = sorted(loss)
# LatestN(2), plus BestN(n=2, reverse=True): sorted by loss descending (stable, so among equal
# losses the later step comes later), the last 2 are kept.
best = sorted(steps, key=lambda s: loss[s], reverse=True)[-2:]
expected = set(steps[-2:]) | set(best)
found, other = set(), []
for name in os.listdir(root):
    if name.isdigit() and os.path.isdir(os.path.join(root, name)):
        found.add(int(name))
    elif name != "metadata":
        other.append(name)
tmp = [os.path.join(d, n) for d, dirs, files in os.walk(root) for n in dirs + files
       if ".cairn-tmp-" in n]
print(f"    saved: {steps}")
print(f"    latest 2: {steps[-2:]}, lowest loss: {sorted(best)}; on disk: {sorted(found)}")
ok = True
if found != expected:
    print(f"expected steps {sorted(expected)}, found {sorted(found)}"); ok = False
if other:
    print(f"unexpected entries: {other}"); ok = False
if tmp:
    print(f"temporary leftovers: {tmp}"); ok = False
for step in sorted(found & expected):
    meta = json.load(open(os.path.join(root, str(step), "_CHECKPOINT_METADATA")))
    stored = (meta.get("metrics") or {}).get("loss")
    if stored != loss[step]:
        print(f"step {step}: stored loss {stored!r}, logged {loss[step]!r}"); ok = False
sys.exit(0 if ok else 1)
EOF
echo "OK: preempted at step $preempted, resumed, bit-exact with the uninterrupted run"
