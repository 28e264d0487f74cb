#!/usr/bin/env bash
# CheckpointManager under SIGKILL, with manager_kill_driver at NP ranks. Three rounds in one
# directory, each with another range of delays: start `train` (a save every step, max_to_keep 3),
# wait until it has committed 2 steps in this round, SIGKILL one random rank after a random delay,
# let mpiexec take the job down, then `verify` at 2 ranks, which must pass:
#   - every listed step restores, at 2 ranks, exactly the values written for it (and its step);
#   - the last 2 steps the run logged as committed are listed (nothing committed is lost);
#   - the latest listed step is the last logged commit, or the step being saved at the kill
#     (listed only if its commit had completed: then it restores correctly like the others);
#   - every step directory on disk is listed (a partial save stays a *.cairn-tmp-* entry).
# Finally `train` runs 3 more steps in the same directory (the killed saves' leftovers must not
# block it): it exits 0, commits latest+1..latest+3, and `verify` lists exactly those 3.
# Usage: manager_kill.sh DRIVER NP BACKEND [mpiexec args...]
set -euo pipefail
driver=$1 np=$2 backend=$3
shift 3
mpi_args=("$@")
verify_np=2
start_time=$SECONDS

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-manager-kill-XXXXXX")
dir=$work/ckpt pids=$work/pids
mkdir "$pids"
mpipid='' watchdog=''
cleanup() {
  [[ -z $watchdog ]] || kill "$watchdog" 2>/dev/null || true
  if [[ -n $mpipid ]] && kill -0 "$mpipid" 2>/dev/null; then
    kill -KILL "$mpipid" 2>/dev/null || true
  fi
  reap_ranks
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do
    [[ -e $f ]] || continue
    echo "---- $(basename "$f") ----"
    tail -n 40 "$f"
  done
  echo "---- $dir ----"
  ls -la "$dir" 2>/dev/null || true
  exit 1
}
# The ranks of the last train run, by their pid files: wait for them to go (mpiexec kills them),
# SIGKILL those that linger. They are this script's grandchildren, identified by pid file only.
reap_ranks() {
  local f p i
  for f in "$pids"/pid.*; do
    [[ -s $f ]] || continue
    p=$(cat "$f")
    for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
      echo "    rank pid $p outlived mpiexec: SIGKILL"
      kill -KILL "$p" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}
start_train() {  # start_train LOG STEPS: in the background, pid in $mpipid, with a watchdog
  : >"$1"  # exists at once, for the polling below
  mpiexec "${mpi_args[@]}" -n "$np" "$driver" train "$dir" "$pids" "$backend" "$2" >"$1" 2>&1 &
  mpipid=$!
  (for ((t = 0; t < 250; t++)); do sleep 0.1; done; kill -KILL "$mpipid") >/dev/null 2>&1 &
  watchdog=$!
}
wait_train() {  # wait_train: the exit code of the train run in $rc
  rc=0
  wait "$mpipid" || rc=$?
  mpipid=
  kill "$watchdog" 2>/dev/null || true
  watchdog=
}
verify() {  # verify LOG: runs verify at $verify_np ranks; the listed steps in $listed
  timeout -k 5 30 mpiexec "${mpi_args[@]}" -n "$verify_np" "$driver" verify "$dir" >"$1" 2>&1 ||
    fail "verify exited with $? (see $(basename "$1"))"
  grep -q '^VERIFIED ' "$1" || fail "verify did not report VERIFIED"
  listed=$(sed -n 's/^steps: *//p' "$1")
}
contains() {  # contains "LIST" X
  [[ " $1 " == *" $2 "* ]]
}
# Every step directory on disk must be listed.
check_disk() {
  local name
  for name in $(find "$dir" -mindepth 1 -maxdepth 1 -printf '%f\n'); do
    if [[ $name =~ ^[0-9]+$ ]]; then
      contains "$listed" "$name" || fail "step directory $name is on disk but not listed"
    elif [[ $name != metadata && $name != *.cairn-tmp-* ]]; then
      fail "unexpected entry $name in $dir"
    fi
  done
}

# Delay ranges (ms) after the second commit of a round: early, middle, late.
delays_lo=(0 100 300) delays_hi=(100 300 700)
for round in 0 1 2; do
  log=$work/train$round.log
  start_train "$log" -1
  for ((i = 0; ; i++)); do
    ((i < 200)) || fail "round $round: fewer than 2 commits within 20 s"
    kill -0 "$mpipid" 2>/dev/null || fail "round $round: train exited by itself"
    if (($(grep -c '^committed step' "$log" || true) >= 2)); then
      ready=1
      for ((r = 0; r < np; r++)); do [[ -s $pids/pid.$r ]] || ready=0; done
      ((ready)) && break
    fi
    sleep 0.1
  done
  lo=${delays_lo[round]} hi=${delays_hi[round]}
  delay=$((lo + RANDOM % (hi - lo)))
  victim=$((RANDOM % np))
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  pid=$(cat "$pids/pid.$victim")
  kill -KILL "$pid"
  wait_train
  ((rc != 0)) || fail "round $round: mpiexec exited 0 after a rank was killed"
  reap_ranks

  mapfile -t committed < <(sed -n 's/^committed step //p' "$log")
  last_saving=$(sed -n 's/^saving step //p' "$log" | tail -n 1)
  last_committed=${committed[-1]}
  verify "$work/verify$round.log"
  latest=${listed##* }
  for s in "${committed[@]: -2}"; do
    contains "$listed" "$s" || fail "round $round: committed step $s is not listed ($listed)"
  done
  [[ $latest == "$last_committed" || $latest == "$last_saving" ]] ||
    fail "round $round: latest listed step $latest is neither the last commit $last_committed" \
      "nor the step being saved $last_saving"
  (($(wc -w <<<"$listed") <= 4)) || fail "round $round: more than max_to_keep + 1 steps: $listed"
  check_disk
  if [[ $last_saving != "$last_committed" ]]; then
    if contains "$listed" "$last_saving"; then
      what="step $last_saving committed just before the kill; it restores"
    else
      what="step $last_saving was being saved: not listed"
      partial=$(find "$dir" -mindepth 1 -maxdepth 1 -name "$last_saving.cairn-tmp-*" | wc -l)
      ((partial == 0)) || what+=", its partial save is left as a *.cairn-tmp-* entry"
    fi
  else
    what="killed between saves (after step $last_committed)"
  fi
  echo "round $round: SIGKILL to rank $victim ${delay} ms after 2 commits; $what;" \
    "listed: $listed"
done

# Training continues in the same directory, next to whatever the kills left behind.
leftovers=$(find "$dir" -mindepth 1 -maxdepth 1 -name '*.cairn-tmp-*' -printf '%f ')
echo "leftovers before the last run: ${leftovers:-none}"
log=$work/train_final.log
start_train "$log" 3
wait_train
((rc == 0)) || fail "the final train run exited with $rc"
reap_ranks
expect="$((latest + 1)) $((latest + 2)) $((latest + 3))"
got=$(sed -n 's/^committed step //p' "$log" | xargs)
[[ $got == "$expect" ]] || fail "the final run committed '$got', expected '$expect'"
verify "$work/verify_final.log"
[[ $listed == "$expect" ]] || fail "after the final run verify lists '$listed', expected '$expect'"
check_disk
leftovers=$(find "$dir" -mindepth 1 -maxdepth 1 -name '*.cairn-tmp-*' -printf '%f ')
echo "final run committed $got; listed: $listed; leftovers: ${leftovers:-none}"
echo "OK: 3 kills at $np ranks, every listed step verified at $verify_np ranks," \
  "training resumed ($((SECONDS - start_time)) s)"
