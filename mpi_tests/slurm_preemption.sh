#!/usr/bin/env bash
# examples/train_loop.cc preempted by a real Slurm, on a private single-node cluster that this
# script brings up (munged, slurmctld, slurmd: config, state, spool, pids and logs in a temp dir,
# SLURM_CONF pointing there, its own munge socket and ports) and takes down again on exit:
#   (a) reference: `srun --mpi=pmix -n 2`, STEPS steps uninterrupted -> its "checksum" line A
#   (b) the same job step preempted with `scancel -s USR1 <jobid>` after step 30 was saved: Slurm
#       signals every task, so both ranks catch SIGUSR1; the job exits 0, both ranks print the same
#       "PREEMPTED step=P", step P is committed, and no *.cairn-tmp-* entry is left
#   (c) the same srun command again: prints "restored step P", and its checksum equals A bit for bit
#   (d) `srun --time=1 --signal=USR1@20`: slurmctld itself sends SIGUSR1 before the time limit
#       (it checks time limits every 30 s, so it comes 10-40 s after the start); the job exits 0
#       well before the limit, every rank caught SIGUSR1 and saved the same committed step, and
#       a restart resumes from it
# Skipped (exit 77) when the Slurm or munge programs are missing, when not root, or when the
# cluster cannot be brought up (its logs are printed): that is not a cairn failure.
# Usage: slurm_preemption.sh EXE BACKEND
set -euo pipefail
exe=$(realpath "$1") backend=$2
np=2 steps=100 interval=10
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

skip() {
  echo "SKIP: $*"
  exit 77
}
for prog in slurmctld slurmd srun scancel squeue sinfo munged munge unmunge; do
  command -v "$prog" >/dev/null || skip "$prog is not installed (Debian: slurm-wlm, munge)"
done
(($(id -u) == 0)) || skip "a private slurmd with SlurmUser=root needs root"

# Under another Slurm job or launcher, its variables would redirect srun and the MPI library
# (Open MPI's OMPI_MCA_* settings stay).
while read -r var; do
  [[ $var == OMPI_MCA_* ]] || unset "$var"
done < <(env | sed -n -E 's/^((SLURM|PMIX|PMI|OMPI)_[A-Za-z0-9_]*)=.*/\1/p')

# munged wants every directory above its socket searchable by all: /tmp, not a private TMPDIR.
work=$(mktemp -d /tmp/cairn-slurm-XXXXXX)
chmod 755 "$work"
conf=$work/slurm.conf
export SLURM_CONF=$conf
munge_socket=$work/munge/munge.socket
munge_pid='' ctld_pid='' slurmd_pid='' srun_pid=''

stop_pid() {  # stop_pid PID: TERM, up to 10 s, then KILL
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
# Processes of this cluster, wherever they were reparented: the training program or one of the
# named programs (default: slurmstepd), with our SLURM_CONF in its environment (the tasks, the
# daemons) or a file or working directory in $work open (slurmstepd: its log, spool sockets).
leftovers() {
  local d pid comm f names=" ${*:-slurmstepd} "
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    ((pid != $$)) || continue
    comm=$(cat "$d/comm" 2>/dev/null) || continue
    [[ $names == *" $comm "* || $(readlink "$d/exe" 2>/dev/null) == "$exe" ]] || continue
    if { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$conf"; then
      echo "$pid"
      continue
    fi
    for f in "$d"/cwd "$d"/fd/*; do
      if [[ $(readlink "$f" 2>/dev/null) == "$work"/* ]]; then
        echo "$pid"
        break
      fi
    done
  done
  return 0
}
cleanup() {
  set +e  # a failing command must not cut the cleanup short
  local end jobs pid
  stop_pid "$srun_pid"
  if [[ -n $ctld_pid ]] && kill -0 "$ctld_pid" 2>/dev/null; then
    jobs=$(timeout 5 squeue -h -o %A 2>/dev/null)
    if [[ -n $jobs ]]; then
      # shellcheck disable=SC2086
      timeout 5 scancel $jobs 2>/dev/null
      end=$((SECONDS + 10))
      while ((SECONDS < end)); do
        [[ -z $(timeout 5 squeue -h -o %A 2>/dev/null) ]] && break
        sleep 0.2
      done
    fi
  fi
  # slurmstepd reports to slurmd just after its step ended: let it finish while slurmd is up.
  end=$((SECONDS + 10))
  while ((SECONDS < end)) && [[ -n $(leftovers) ]]; do sleep 0.1; done
  stop_pid "$slurmd_pid"
  stop_pid "$ctld_pid"
  stop_pid "$munge_pid"
  for pid in $(leftovers slurmstepd slurmd slurmctld slurmscriptd munged); do
    kill -KILL "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

show_logs() {
  local f
  for f in "$work"/log/*; do
    [[ -e $f ]] || continue
    [[ $f == *.out && -s ${f%.out}.log ]] && continue  # the same lines
    echo "---- $(basename "$f") ----"
    tail -n 60 "$f"
  done
}
fail() {
  echo "FAIL: $*"
  local f
  for f in "$work"/*.log; do
    [[ -e $f ]] || continue
    echo "---- $(basename "$f") ----"
    cat "$f"
  done
  show_logs
  exit 1
}
cannot_start() {
  echo "the private Slurm cluster did not come up: $*"
  show_logs
  skip "no working Slurm cluster"
}

# Two free TCP ports (slurmctld, slurmd), derived from our pid so that concurrent copies differ.
ports=$("$PYTHON" - $$ <<'EOF'
import socket, sys
base = 20000 + (int(sys.argv[1]) * 2) % 20000
def free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
for i in range(0, 20000, 2):
    p = 20000 + (base - 20000 + i) % 20000
    if free(p) and free(p + 1):
        print(p, p + 1)
        break
EOF
) || true
read -r ctld_port slurmd_port <<<"$ports" || true
[[ -n ${slurmd_port:-} ]] || cannot_start "no free ports"

echo "private cluster in $work (ports $ctld_port, $slurmd_port)"
mkdir -p "$work"/{munge,state,spool,log,tmp}
chmod 755 "$work/munge"

# munge: the system's key if there is one (root can read it), else a new one; our own socket.
if [[ -r /etc/munge/munge.key ]]; then
  cp /etc/munge/munge.key "$work/munge.key"
else
  dd if=/dev/urandom of="$work/munge.key" bs=1024 count=1 status=none
fi
chmod 400 "$work/munge.key"
munged -F --socket="$munge_socket" --key-file="$work/munge.key" \
  --pid-file="$work/munge/munged.pid" --seed-file="$work/munge/munged.seed" \
  --log-file="$work/log/munged.log" \
  >"$work/log/munged.out" 2>&1 &
munge_pid=$!
# Deadlines in wall-clock seconds: a client command may itself take seconds when things go wrong.
end=$((SECONDS + 10))
while true; do
  munge -n -S "$munge_socket" 2>/dev/null | unmunge -S "$munge_socket" >/dev/null 2>&1 && break
  kill -0 "$munge_pid" 2>/dev/null || cannot_start "munged exited"
  ((SECONDS < end)) || cannot_start "munge -n | unmunge did not succeed within 10 s"
  sleep 0.1
done

node_line=$(slurmd -C | head -n 1)
host=$(sed -n -E 's/^NodeName=([^ ]+) .*/\1/p' <<<"$node_line")
[[ -n $host ]] || cannot_start "slurmd -C printed no NodeName line: $node_line"
cat >"$conf" <<EOF
ClusterName=cairntest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$munge_socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
MailProg=/bin/true
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
TmpFS=$work/tmp
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=cairn Nodes=$host Default=YES MaxTime=INFINITE OverSubscribe=FORCE State=UP
EOF

t0=$SECONDS
slurmctld -D -i >"$work/log/slurmctld.out" 2>&1 &
ctld_pid=$!
slurmd -D -N "$host" >"$work/log/slurmd.out" 2>&1 &
slurmd_pid=$!
end=$((SECONDS + 30))
while true; do
  state=$(timeout 5 sinfo -h -n "$host" -o %t 2>/dev/null || true)
  [[ $state == idle ]] && break
  kill -0 "$ctld_pid" 2>/dev/null || cannot_start "slurmctld exited"
  kill -0 "$slurmd_pid" 2>/dev/null || cannot_start "slurmd exited"
  ((SECONDS < end)) || cannot_start "node $host is '$state', not idle, after 30 s"
  sleep 0.1
done
echo "    node $host idle after $((SECONDS - t0)) s"

# The tasks' temporary files go to the temp dir too: Open MPI's session directory (TMPDIR) and the
# PMIx application directory of Slurm's mpi/pmix plugin (TmpFS).
export TMPDIR=$work/tmp
usr1=$(kill -l USR1)
# -O: two tasks even on a one-CPU node; -K: one task failing ends the step.
srun_args=(--mpi=pmix -n "$np" -O -K)
train() {  # train LOG [srun args...] -- [train_loop args...]: one job step in the foreground
  local log=$1 pre=()
  shift
  while [[ $1 != -- ]]; do pre+=("$1"); shift; done
  shift
  timeout -k 5 90 srun "${srun_args[@]}" "${pre[@]}" "$exe" --backend "$backend" "$@" >"$log" 2>&1
}
check_preempted() {  # check_preempted LOG NAME: sets $preempted
  local log=$1 name=$2 lines r
  grep -q '^checksum ' "$log" && fail "run $name finished all its steps: the signal came too late"
  mapfile -t lines < <(grep -E '^PREEMPTED step=[0-9]+ rank=[0-9]+$' "$log")
  ((${#lines[@]} == np)) || fail "run $name: expected $np PREEMPTED lines, got ${#lines[@]}"
  preempted=$(printf '%s\n' "${lines[@]}" | sed -E 's/^PREEMPTED step=([0-9]+) .*/\1/' | sort -u)
  [[ $(wc -l <<<"$preempted") -eq 1 ]] ||
    fail "run $name: ranks stopped at different steps: $preempted"
  # Slurm signals every task of the step, unlike kill to one rank's pid.
  for ((r = 0; r < np; r++)); do
    grep -q "^rank $r caught signal $usr1\$" "$log" ||
      fail "run $name: rank $r did not catch SIGUSR1"
  done
  grep -q "^saved step $preempted " "$log" || fail "run $name did not log a save of step $preempted"
}
check_dir() {  # check_dir DIR STEP: STEP committed, no temporary leftovers
  [[ -f $1/$2/commit_success.txt ]] || fail "step $2 is not committed in $1"
  local tmp
  tmp=$(find "$1" -name '*.cairn-tmp-*')
  [[ -z $tmp ]] || fail "temporary leftovers in $1: $tmp"
}

echo "(a) reference: srun -n $np, $steps steps"
train "$work/a.log" -- --dir "$work/reference" --steps "$steps" --interval "$interval" ||
  fail "the reference run exited with $?"
checksum_a=$(grep '^checksum ' "$work/a.log") || fail "no checksum line in the reference run"
echo "    $checksum_a"

echo "(b) srun -n $np, scancel -s USR1 mid-way"
mkdir "$work/pids"
job=cairn-preempt-$$
timeout -k 5 90 srun "${srun_args[@]}" -J "$job" "$exe" --backend "$backend" --steps "$steps" \
  --interval "$interval" --dir "$work/ckpt" --pid-dir "$work/pids" --step-ms 30 \
  >"$work/b.log" 2>&1 &
srun_pid=$!
# After the save of step 30 (the signal handlers are installed once the pid files exist), plus
# 0-0.3 s so that the preempted step varies.
end=$((SECONDS + 30))
while true; do
  ready=1
  for ((r = 0; r < np; r++)); do [[ -s $work/pids/pid.$r ]] || ready=0; done
  ((ready)) && grep -q '^saved step 30 ' "$work/b.log" && break
  kill -0 "$srun_pid" 2>/dev/null || fail "run (b) ended before step 30 was saved"
  ((SECONDS < end)) || fail "run (b) did not save step 30 within 30 s"
  sleep 0.1
done
sleep "$(printf '0.%03d' $((RANDOM % 300)))"
jobid=$(timeout 10 squeue -h -n "$job" -o %A)
[[ $jobid =~ ^[0-9]+$ ]] || fail "no single job id for $job: '$jobid'"
timeout 10 scancel -s USR1 "$jobid" || fail "scancel -s USR1 $jobid failed"
rc=0
wait "$srun_pid" || rc=$?
srun_pid=
((rc == 0)) || fail "run (b) (job $jobid) exited with $rc"
check_preempted "$work/b.log" "(b)"
check_dir "$work/ckpt" "$preempted"
echo "    job $jobid: both ranks caught SIGUSR1, saved step $preempted and exited 0"

echo "(c) restart: the same srun command"
train "$work/c.log" -- --dir "$work/ckpt" --steps "$steps" --interval "$interval" ||
  fail "the restarted run exited with $?"
grep -q "^restored step $preempted " "$work/c.log" || fail "run (c) did not restore step $preempted"
checksum_c=$(grep '^checksum ' "$work/c.log") || fail "no checksum line in the restarted run"
echo "    $checksum_c"
[[ $checksum_c == "$checksum_a" ]] || fail "checksums differ: '$checksum_a' vs '$checksum_c'"
check_dir "$work/ckpt" "$steps"

echo "(d) srun --time=1 --signal=USR1@20: Slurm sends SIGUSR1 before the time limit"
t1=$SECONDS
train "$work/d.log" --time=1 --signal=USR1@20 -- --dir "$work/timed" --steps 100000 \
  --step-ms 20 --interval 50 || fail "run (d) exited with $?"
elapsed=$((SECONDS - t1))
((elapsed < 55)) || fail "run (d) took $elapsed s: stopped by the time limit, not by --signal"
check_preempted "$work/d.log" "(d)"
check_dir "$work/timed" "$preempted"
echo "    signalled after ~$elapsed s: both ranks saved step $preempted and exited 0"
train "$work/e.log" -- --dir "$work/timed" --steps $((preempted + 1)) --interval 50 ||
  fail "the restart of run (d) exited with $?"
grep -q "^restored step $preempted " "$work/e.log" ||
  fail "the restart did not restore step $preempted"
grep -q "^checksum step=$((preempted + 1)) " "$work/e.log" || fail "the restart did not finish"
echo "    restart resumed from step $preempted"

echo "OK: Slurm preempted the job (scancel -s USR1 and --signal), it resumed bit-exactly" \
  "($((SECONDS - t0)) s with the cluster up)"
