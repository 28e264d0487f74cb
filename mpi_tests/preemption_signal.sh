#!/usr/bin/env bash
# Runs preemption_driver (a CheckpointManager loop) on 4 ranks, sends a real signal from outside,
# and checks that every rank stopped at the same step, saved it once, and exited 0.
#   TARGET=rank:   the signal goes to ONE rank's pid only (rank 2); only that rank catches it.
#   TARGET=mpirun: the signal goes to mpiexec, which forwards it to every rank (Open MPI forwards
#                  SIGUSR1/SIGUSR2; SIGTERM to mpiexec aborts the job instead).
# Usage: preemption_signal.sh DRIVER SIGNAL TARGET BACKEND [mpiexec args...]   (SIGNAL: USR1, TERM)
set -euo pipefail
driver=$1 sig=$2 target_kind=$3 backend=$4
shift 4
np=4 target=2
[[ $target_kind == rank || $target_kind == mpirun ]] || { echo "TARGET must be rank or mpirun"; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-preemption-XXXXXX")
dir=$work/run log=$work/log
mkdir "$dir"
mpipid='' watchdog=''
cleanup() {
  [[ -z $watchdog ]] || kill "$watchdog" 2>/dev/null || true
  if [[ -n $mpipid ]] && kill -0 "$mpipid" 2>/dev/null; then
    # SIGTERM makes mpiexec kill its ranks; SIGKILL only if it does not go.
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
  echo "---- driver output ----"
  cat "$log" || true
  echo "---- $dir ----"
  ls -la "$dir" || true
  exit 1
}

# The driver gives up by itself after 750 steps (about 15 s, exit code 3); the watchdog covers a
# hang. mpiexec runs directly under this shell so that $! is its pid (TARGET=mpirun).
mpiexec "$@" -n "$np" "$driver" "$dir" "$backend" 750 >"$log" 2>&1 &
mpipid=$!
# (Short sleeps with no inherited output: a killed watchdog leaves nothing that holds the
# test's stdout open.)
(for ((t = 0; t < 450; t++)); do sleep 0.1; done; kill -TERM "$mpipid") >/dev/null 2>&1 &
watchdog=$!

for ((i = 0; ; i++)); do
  ready=1
  for ((r = 0; r < np; r++)); do [[ -s $dir/pid.$r ]] || ready=0; done
  ((ready)) && break
  kill -0 "$mpipid" 2>/dev/null || fail "the driver exited before every rank wrote its pid"
  ((i < 300)) || fail "no pid files after 30 s"
  sleep 0.1
done

if [[ $target_kind == rank ]]; then
  pid=$(cat "$dir/pid.$target")
  echo "sending SIG$sig to rank $target (pid $pid) only"
else
  pid=$mpipid
  echo "sending SIG$sig to mpiexec (pid $pid)"
fi
kill -s "$sig" "$pid"

rc=0
wait "$mpipid" || rc=$?
mpipid=
kill "$watchdog" 2>/dev/null || true
watchdog=
cat "$log"
((rc == 0)) || fail "mpiexec exited with $rc (3: the driver saw no preemption)"

# Every rank printed the same step.
mapfile -t lines < <(grep -E '^PREEMPTED step=[0-9]+ rank=[0-9]+$' "$log")
((${#lines[@]} == np)) || fail "expected $np PREEMPTED lines, got ${#lines[@]}"
steps=$(printf '%s\n' "${lines[@]}" | sed -E 's/^PREEMPTED step=([0-9]+) .*/\1/' | sort -u)
ranks=$(printf '%s\n' "${lines[@]}" | sed -E 's/.* rank=([0-9]+)$/\1/' | sort -n | tr '\n' ' ')
[[ $(wc -l <<<"$steps") -eq 1 ]] || fail "ranks stopped at different steps: $steps"
[[ $ranks == "0 1 2 3 " ]] || fail "PREEMPTED ranks are '$ranks'"
for ((r = 0; r < np; r++)); do
  if [[ $target_kind == mpirun || $r -eq $target ]]; then
    grep -q "^rank $r caught signal" "$log" || fail "rank $r did not report the signal"
  else
    ! grep -q "^rank $r caught signal" "$log" || fail "rank $r caught the signal itself"
  fi
done

# Exactly one committed checkpoint, named after that step, and no temporary leftovers. Besides the
# steps the manager's directory holds only its root metadata (metadata/_ROOT_METADATA).
[[ -f $dir/metadata/_ROOT_METADATA ]] || fail "no root metadata in $dir/metadata"
mapfile -t ckpts < <(find "$dir" -mindepth 1 -maxdepth 1 -type d ! -name metadata -printf '%f\n')
((${#ckpts[@]} == 1)) || fail "expected one checkpoint directory, found: ${ckpts[*]}"
[[ ${ckpts[0]} == "$steps" ]] || fail "checkpoint directory ${ckpts[0]} is not step $steps"
[[ -f $dir/$steps/commit_success.txt ]] || fail "no commit_success.txt in $dir/$steps"
leftovers=$(find "$dir" -name '*.cairn-tmp-*')
[[ -z $leftovers ]] || fail "temporary leftovers: $leftovers"
echo "OK: all $np ranks saved step $steps after SIG$sig to $target_kind"
