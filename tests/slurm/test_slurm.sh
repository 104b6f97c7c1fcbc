#!/usr/bin/env bash
# Integration test of scripts/slurm/*.sbatch against a real Slurm: starts a one-node cluster on
# 127.0.0.1 (munged, slurmctld, slurmd) with its own config, key, ports and state in a private
# folder, submits every batch script and waits for it, checks that each generated exactly the
# tokens of a one-process run, and stops every daemon it started (by pid), also when it fails.
#   test_slurm.sh QWEN3_BIN MODEL_DIR SCRIPTS_DIR
# Exit 0: all passed; 1: a check failed, or the cluster did not come up (the daemons' logs are
# printed and kept); 77: not root, or Slurm or MUNGE not installed (says which, as
# "SKIPPED: requires root|slurm: ..."; CTest reports it as skipped, never as passed).
set -uo pipefail
BIN=$(realpath "$1") MODEL=$(realpath "$2") SCRIPTS=$(realpath "$3")
PROMPT="It was late in the evening when"
TOKENS=12

skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAILED: $*"; exit 1; }

# Skipped only where a prerequisite is absent; from here on, anything that does not work is a failure.
probe=$(dirname "$(realpath "$0")")/../../scripts/probe_features.sh
why=$(bash "$probe" root) || skip "requires root: $why (slurmd runs as root, munged as the munge user)"
why=$(bash "$probe" slurm) || skip "requires slurm: $why"

dir=$(mktemp -d /tmp/qwen3-slurm.XXXXXX)
chmod 755 "$dir"
node=$(hostname -s)
port=$((20000 + $$ % 20000))

stop_daemons() {
  local f pid
  for f in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munge/munged.pid; do
    [[ -s "$f" ]] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null && echo "note: pid $pid ($f) needed SIGKILL"
  done
}
on_exit() {
  local rc=$?
  stop_daemons
  if [[ $rc -eq 0 ]]; then
    rm -rf "$dir"
    return
  fi
  # A failure keeps the folder and shows the daemons' own words.
  for log in "$dir"/munge/munged.log "$dir"/slurmctld.log "$dir"/slurmd.log; do
    echo "--- $log"
    if [[ -f "$log" ]]; then tail -40 "$log"; else echo "(not written)"; fi
  done
  echo "--- kept: $dir"
}
trap on_exit EXIT

# MUNGE with its own key, socket and pid file (munged insists that its files belong to its user).
mkdir -p "$dir/munge"
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chown -R munge: "$dir/munge"
chmod 711 "$dir/munge"  # the socket must be reachable by everyone; the key stays 0400
chmod 400 "$dir/munge/munge.key"
runuser -u munge -- munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" \
  || fail "munged did not start"

mkdir -p "$dir/state" "$dir/spool" "$dir/jobs"
cat > "$dir/slurm.conf" <<CONF
ClusterName=qwen3test
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
# task/affinity: srun --cpu-bind=cores gives each rank its own core, as a real site does (task/none left
# both ranks of a node on the first core through OMP_PROC_BIND, 113 ms per token instead of 2).
TaskPlugin=task/affinity
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=10
InactiveLimit=0
KillWait=5
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -c -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" -N "$node" || fail "slurmd did not start"
for _ in $(seq 100); do
  [[ $(sinfo -h -o %t 2>/dev/null) == idle ]] && break
  sleep 0.2
done
[[ $(sinfo -h -o %t 2>/dev/null) == idle ]] || fail "the node did not become idle in 20 s: $(sinfo 2>&1)"
echo "cluster up: $(sinfo -h -o '%P %D %t %c CPUs')"

# The referee: one process, no MPI, no Slurm.
want=$("$BIN" -m "$MODEL" -p "$PROMPT" -n "$TOKENS" --temp 0 -t 1 --json 2>/dev/null | grep -o '"generated_ids":\[[^]]*\]')
[[ -n "$want" ]] || fail "the one-process run printed no generated_ids"
echo "one process: $want"

# wait_for_job JOB: polls the queue every 0.1 s until the job has left it (at most 180 s), then
# succeeds when it COMPLETED. Not `sbatch --wait`: it polls after 2 s, then every 8 s, so a 3 s job took 10.
# A failed squeue (slurmctld busy for a moment) is asked again, never read as "left the queue".
wait_for_job() {
  local job=$1 queued
  for _ in $(seq 1800); do
    queued=$(squeue -h -j "$job" 2>/dev/null) && [[ -z $queued ]] \
      && { scontrol show job "$job" 2>/dev/null | grep -q "JobState=COMPLETED"; return; }
    sleep 0.1
  done
  scancel "$job"
  return 1
}
# sbatch_and_wait [sbatch options...] SCRIPT: submits and waits as above.
sbatch_and_wait() {
  local job
  job=$(sbatch --parsable "$@") || return 1
  wait_for_job "$job"
}

status=0
submit() {  # name script extra-exports [sbatch options...]   (extra-exports: "" or ",VAR=value,...")
  local name=$1 script=$2 extra=$3
  shift 3
  local out="$dir/jobs/$name.json"
  local t0=$SECONDS
  if ! sbatch_and_wait --chdir="$dir/jobs" --output="$dir/jobs/$name.log" "$@" \
      --export=ALL,QWEN3_BIN="$BIN",MODEL="$MODEL",PROMPT="$PROMPT",TOKENS=$TOKENS,OUTPUT="$out$extra" "$SCRIPTS/$script"; then
    echo "FAILED: $name: job of $script did not complete"; sed 's/^/    /' "$dir/jobs/$name.log" 2>/dev/null | tail -15
    status=1; return
  fi
  local got
  got=$(grep -o '"generated_ids":\[[^]]*\]' "$out" 2>/dev/null)
  if [[ "$got" == "$want" ]]; then
    local ranks
    ranks=$(grep -o "| ranks [^(]*" "$dir/jobs/$name.log" | head -1)
    echo "ok: $name ($script $*) in $((SECONDS - t0)) s, ${ranks:-| 1 process}: $(tail -1 "$dir/jobs/$name.log")"
  else
    echo "FAILED: $name: $got"; sed 's/^/    /' "$dir/jobs/$name.log" | tail -15
    status=1
  fi
}
submit one_process one_process.sbatch ""
submit one_node_ranks one_node_ranks.sbatch ""
submit one_node_ranks_sp2 one_node_ranks.sbatch ",LAYOUT=--tp 1 --sp 2"
# The multi-node script on this one-node cluster: -N 1 overrides its --nodes=2; both launchers.
submit multi_node_srun multi_node.sbatch "" -N 1 --ntasks-per-node=2
submit multi_node_mpirun multi_node.sbatch ",LAUNCHER=mpirun" -N 1 --ntasks-per-node=2

# A rank that dies ends the job: one rank of a running job, chosen at random, is killed once the load
# line is out, during prefill (a prompt of ~50,000 tokens streamed through a 256-token window) and
# during decode (a job that would generate forever); srun must end the step at once and name the task
# (= the rank).
for _ in $(seq 3000); do echo "It was late in the evening when he came home, and the house was dark and still."; done > "$dir/long_prompt.txt"
kill_a_rank() {  # phase
  local phase=$1 log="$dir/jobs/death_$1.log" job victim pid="" p env t0 ms state
  local exports=",TOKENS=-1,EXTRA_ARGS=--temp 0 --kv-policy sink-window --window 60"
  [[ $phase == prefill ]] && exports=",TOKENS=4,PROMPT_FILE=$dir/long_prompt.txt,EXTRA_ARGS=--kv-policy sink-window --window 252"
  job=$(sbatch --parsable --chdir="$dir/jobs" --output="$log" \
    --export=ALL,QWEN3_BIN="$BIN",MODEL="$MODEL",PROMPT="$PROMPT",OUTPUT="$dir/jobs/death_$phase.json$exports" \
    "$SCRIPTS/one_node_ranks.sbatch")
  for _ in $(seq 300); do grep -q "^load:" "$log" 2>/dev/null && break; sleep 0.1; done
  sleep "$([[ $phase == prefill ]] && echo 0.5 || echo 1)"
  victim=$((RANDOM % 2))
  for p in $(pgrep -x qwen3_mpi); do
    env=$(tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null)
    grep -qx "SLURM_JOB_ID=$job" <<< "$env" && grep -qx "SLURM_PROCID=$victim" <<< "$env" && pid=$p
  done
  if [[ -z "$pid" ]]; then
    echo "FAILED: rank $victim of job $job not found ($phase)"; tail -5 "$log"; status=1; return
  fi
  if [[ $phase == prefill ]] && grep -q "^timing:" "$log"; then
    echo "FAILED: prefill was over before the kill"; status=1; return
  fi
  t0=$(date +%s%N)
  kill -9 "$pid"
  for _ in $(seq 100); do [[ -z $(squeue -h -j "$job" -t R 2>/dev/null) ]] && break; sleep 0.05; done
  ms=$((($(date +%s%N) - t0) / 1000000))
  state=$(scontrol show job "$job" 2>/dev/null | grep -o "JobState=[A-Z_]*")
  if [[ -n $(squeue -h -j "$job" -t R 2>/dev/null) ]]; then
    echo "FAILED: job $job still running 5 s after rank $victim died ($phase)"; scancel "$job"; status=1
  elif ! grep -Eq "task $victim\b" "$log"; then
    echo "FAILED: the job log does not name task $victim ($phase)"; tail -5 "$log"; status=1
  else
    echo "ok: rank $victim (pid $pid) killed during $phase under srun: job $job ended $ms ms later, $state; its log said:"
    grep -E "task $victim\b" "$log" | head -2 | sed 's/^/    /'
  fi
}
kill_a_rank prefill
kill_a_rank decode

# batch.sbatch: a prompt file, on one process and on 2 ranks, the results of a run outside Slurm; then
# a job cancelled mid-way (scancel: SIGTERM, and SIGKILL KillWait later) and submitted again: every id
# once, with the ids of the uninterrupted run.
for i in $(seq 48); do
  printf '{"id": "q%d", "prompt": "It was late in the evening when %d men", "max_tokens": %d}\n' "$i" "$i" $((20 + i % 7 * 10))
done > "$dir/prompts.jsonl"
"$BIN" batch -m "$MODEL" --input "$dir/prompts.jsonl" --output "$dir/reference.jsonl" -t 1 --max-running 4 2>/dev/null \
  || fail "the batch run outside Slurm failed"
ids_by_id() { python3 -c 'import json,sys; print("\n".join(sorted(f"{r[\"id\"]} {r[\"token_ids\"]}" for r in map(json.loads, open(sys.argv[1])))))' "$1"; }
check_batch() {  # name results
  local dup
  dup=$(python3 -c 'import json,sys,collections; c=collections.Counter(json.loads(l)["id"] for l in open(sys.argv[1])); print(sum(v-1 for v in c.values()))' "$2")
  if [[ "$(ids_by_id "$2")" == "$(ids_by_id "$dir/reference.jsonl")" && $dup == 0 ]]; then
    echo "ok: $1: $(wc -l < "$2") results, each id once, the ids of the run outside Slurm"
  else
    echo "FAILED: $1: results differ from the run outside Slurm ($dup duplicated)"; status=1
  fi
}
batch_job() {  # name results [sbatch options...]   (prints the job id)
  local name=$1 results=$2
  shift 2
  sbatch --parsable "$@" --chdir="$dir/jobs" --output="$dir/jobs/$name.log" \
    --export=ALL,QWEN3_BIN="$BIN",MODEL="$MODEL",INPUT="$dir/prompts.jsonl",RESULTS="$results",EXTRA_ARGS="--max-running 4" \
    "$SCRIPTS/batch.sbatch"
}
for ranks in 1 2; do
  job=$(batch_job "batch_$ranks" "$dir/batch_$ranks.jsonl" --ntasks=$ranks --cpus-per-task=1) && wait_for_job "$job" \
    || { echo "FAILED: batch.sbatch on $ranks rank(s)"; tail -5 "$dir/jobs/batch_$ranks.log"; status=1; }
  check_batch "batch.sbatch on $ranks rank(s)" "$dir/batch_$ranks.jsonl"
done
job=$(batch_job batch_killed "$dir/batch_resumed.jsonl" --ntasks=1 --cpus-per-task=1)
for _ in $(seq 600); do [[ $(wc -l < "$dir/batch_resumed.jsonl" 2>/dev/null || echo 0) -ge 6 ]] && break; sleep 0.05; done
scancel "$job"
for _ in $(seq 200); do [[ -z $(squeue -h -j "$job" 2>/dev/null) ]] && break; sleep 0.1; done
before=$(wc -l < "$dir/batch_resumed.jsonl")
if ((before >= 48)); then
  echo "FAILED: the job finished before scancel ($before results)"; status=1
fi
job=$(batch_job batch_resume "$dir/batch_resumed.jsonl" --ntasks=1 --cpus-per-task=1) && wait_for_job "$job" \
  || { echo "FAILED: the resumed job"; tail -5 "$dir/jobs/batch_resume.log"; status=1; }
echo "batch.sbatch cancelled with $before of 48 results written; resumed: $(grep -o 'batch: 48 lines.*' "$dir/jobs/batch_resume.log")"
check_batch "batch.sbatch cancelled and resumed" "$dir/batch_resumed.jsonl"
exit $status
