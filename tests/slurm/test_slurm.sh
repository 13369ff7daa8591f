#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine (Debian 12's slurm-wlm 22.05 and munge, installed
# when absent): slurm/cpu.sbatch runs a small generated example through sbatch, once with srun
# (PMIx) and once with mpirun inside the allocation, and both must write the same correct coreset;
# the two GPU templates run a stand-in for gradcore on a node with four fake GPUs, which shows the
# GPUs Slurm gave each rank; then slurm/scaling.sh submits a tiny strong/weak sweep for craig and
# gmc and slurm/report must turn it into a CSV, a markdown table and a plot.
#
# Needs root (it installs packages and runs slurmd, which starts jobs as their user); otherwise
# it exits with ctest's skip code 77. The daemons run in the foreground of this script on free
# ports with their own munge socket, configuration and state under one temporary directory, so a
# site's own Slurm or munge is never touched; on exit (pass, failure or signal) jobs are cancelled,
# the daemons stopped, any process still working in the temporary directory killed, and the
# directory removed.
# Environment: GRADCORE_BIN (the gradcore executable, required), GRADCORE_PYTHON (a Python with
# h5py and matplotlib; default python3).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${GRADCORE_BIN:?GRADCORE_BIN must name the gradcore executable}
python=${GRADCORE_PYTHON:-python3}
started=$(date +%s)
say() { echo "test_slurm: [$(($(date +%s) - started)) s] $*"; }
fail() { echo "test_slurm: FAIL: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
  echo "test_slurm: skipped: needs root (installs slurm-wlm and munge, runs slurmd)"
  exit 77
fi

# shellcheck source=tests/slurm/install_slurm.sh
source "$repo/tests/slurm/install_slurm.sh"
tmp="" munge_pid="" ctld_pid="" slurmd_pid=""

# Stops what this script started, in dependency order, and removes its files. Never exits early.
cleanup() {
  local rc=$?
  set +e
  trap '' PIPE # a reader that went away must not stop the cleanup half-way
  if [ -n "$ctld_pid" ] && kill -0 "$ctld_pid" 2>/dev/null; then
    scancel --user=root --quiet
    for _ in $(seq 40); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  for pid in $slurmd_pid $ctld_pid $munge_pid; do kill -TERM "$pid" 2>/dev/null; done
  for pid in $slurmd_pid $ctld_pid $munge_pid; do
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ -n "$tmp" ]; then
    # slurmstepd and job processes leave this script's process tree but keep their working
    # directory under $tmp (the daemons start there), which names them exactly.
    for proc in /proc/[0-9]*; do
      case $(readlink "$proc/cwd" 2>/dev/null) in
        "$tmp" | "$tmp"/*) say "killing leftover process ${proc#/proc/}: $(tr '\0' ' ' <"$proc/cmdline" 2>/dev/null)"
                           kill -KILL "${proc#/proc/}" 2>/dev/null ;;
      esac
    done
    if [ "$rc" != 0 ]; then
      for log in "$tmp"/work/*.out "$tmp"/sweep/*.out "$tmp"/log/*; do
        [ -s "$log" ] && { echo "---- $log (last 25 lines)"; tail -n 25 "$log"; }
      done >&2
    fi
    rm -rf "$tmp"
  fi
  install_slurm_remove_policy
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install_slurm
say "$(slurmctld -V), $(munged -V 2>&1 | head -n 1)"

tmp=$(mktemp -d /tmp/gradcore-slurm.XXXXXX)
# munged wants its socket's directory (and every parent) searchable by all, its key private.
chmod 755 "$tmp"
mkdir -m 700 "$tmp/munge"
mkdir -m 755 "$tmp/run" "$tmp/state" "$tmp/spool" "$tmp/log" "$tmp/work"
head -c 1024 /dev/urandom >"$tmp/munge/munge.key"
chmod 400 "$tmp/munge/munge.key"

host=$(hostname -s)
read -r ctld_port slurmd_port < <("$python" -c '
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))')
# Four CPUs at least, so the four-rank jobs below fit a small machine too (config_overrides trusts
# the configuration over the hardware).
cpus=$(nproc)
cpus=$((cpus > 4 ? cpus : 4))
# Four fake GPUs: character devices (Slurm accepts nothing else) that nobody opens, since the GPU
# templates run a stand-in that only prints what Slurm bound. A container without mknod skips them.
gpus=""
if (for i in 0 1 2 3; do mknod "$tmp/gpu$i" c 1 3 2>/dev/null || exit 1; done); then
  gpus="Gres=gpu:4"
  echo "Name=gpu File=$tmp/gpu[0-3]" >"$tmp/gres.conf"
fi
cat >"$tmp/slurm.conf" <<EOF
ClusterName=gradcore-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
$(slurm_common_settings "$tmp")
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus $gpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$tmp/slurm.conf

# In the foreground (-F, -D) so that this script owns their PIDs, logging to $tmp/log/*.out; started
# in $tmp (see cleanup).
(cd "$tmp" && exec munged -F --socket="$tmp/run/munge.socket" --key-file="$tmp/munge/munge.key" \
   --pid-file="$tmp/run/munged.pid" --log-file="$tmp/munge/munged.log" --seed-file="$tmp/munge/seed") \
   >"$tmp/log/munged.out" 2>&1 &
munge_pid=$!
for _ in $(seq 40); do munge -n -S "$tmp/run/munge.socket" >/dev/null 2>&1 && break; sleep 0.25; done
munge -n -S "$tmp/run/munge.socket" >/dev/null || fail "munged did not start (log below)"
(cd "$tmp" && exec slurmctld -D) >"$tmp/log/slurmctld.out" 2>&1 &
ctld_pid=$!
(cd "$tmp" && exec slurmd -D -N "$host") >"$tmp/log/slurmd.out" 2>&1 &
slurmd_pid=$!
state=""
for _ in $(seq 60); do
  state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
  [ "$state" = idle ] && break
  kill -0 "$ctld_pid" 2>/dev/null || fail "slurmctld exited (log below)"
  kill -0 "$slurmd_pid" 2>/dev/null || fail "slurmd exited (log below)"
  sleep 0.5
done
[ "$state" = idle ] || fail "node $host is '${state:-unknown}', not idle, 30 s after starting the daemons (logs below)"
say "cluster up: node $host idle, slurmctld on port $ctld_port"

# Open MPI refuses root without these; the jobs inherit this environment (sbatch --export=ALL).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export GRADCORE_BIN=$bin
work=$tmp/work
n=3000 k=60
"$bin" gen --out "$work/data.h5" --n $n --d 8 --classes 4 --seed 3 --imbalance 3 --quiet
printf '[select]\ndata = data.h5\nmethod = craig\nk = %s\nout = coreset.h5\n' $k >"$work/job.ini"

# Jobs start in the submission directory: the job file's relative paths resolve in $work.
submit() { (cd "$work" && timeout 120 sbatch --wait --quiet "$@"); }
submit --output=srun-%j.out "$repo/slurm/cpu.sbatch" job.ini --seed 1 --out srun.h5 ||
  fail "slurm/cpu.sbatch with srun failed (job output below)"
say "slurm/cpu.sbatch with srun: done"
GRADCORE_LAUNCHER=mpirun submit --output=mpirun-%j.out "$repo/slurm/cpu.sbatch" job.ini --seed 1 --out mpirun.h5 ||
  fail "slurm/cpu.sbatch with mpirun failed (job output below)"
say "slurm/cpu.sbatch with mpirun: done"
"$python" - "$work/srun.h5" "$work/mpirun.h5" $n $k <<'EOF' || fail "the coresets written through Slurm are wrong"
import sys
import h5py
import numpy as np
srun, mpirun, n, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with h5py.File(srun) as a, h5py.File(mpirun) as b:
    for f, name in ((a, "srun"), (b, "mpirun")):
        index, weight = f["coreset/index"][()], f["coreset/weight"][()]
        assert f.attrs["ranks"] == 2, f"{name}: {f.attrs['ranks']} ranks, not the job's 2"
        assert len(index) == k and len(weight) == k, f"{name}: {len(index)} rows, not k = {k}"
        assert weight.sum() == n, f"{name}: weights sum to {weight.sum()}, not N = {n}"
        assert len(set(index.tolist())) == k and index.min() >= 0 and index.max() < n, f"{name}: bad rows"
    assert np.array_equal(a["coreset/index"][()], b["coreset/index"][()]), "srun and mpirun chose different rows"
    assert np.array_equal(a["coreset/weight"][()], b["coreset/weight"][()]), "srun and mpirun weigh differently"
EOF
say "coresets: k = $k rows, weights sum to N = $n, the same with srun and mpirun"

if [ -n "$gpus" ]; then
  # shellcheck disable=SC2016 # the stand-in expands these when Slurm runs it
  printf '#!/bin/sh\necho "task $SLURM_PROCID sees GPUs $CUDA_VISIBLE_DEVICES, runs $*"\n' >"$work/show-gpus"
  chmod +x "$work/show-gpus"
  GRADCORE_BIN=$work/show-gpus submit --output=multi.out --nodes=1 --ntasks-per-node=4 --cpus-per-task=1 \
    "$repo/slurm/multi-node-gpus.sbatch" job.ini --seed 1 || fail "slurm/multi-node-gpus.sbatch failed"
  GRADCORE_BIN=$work/show-gpus submit --output=one.out --cpus-per-task=1 "$repo/slurm/one-node-gpus.sbatch" job.ini \
    --seed 1 || fail "slurm/one-node-gpus.sbatch failed"
  runs="runs select --config job.ini --device cuda --seed 1"
  # One rank per GPU: four ranks, each bound to a different single GPU.
  bound=$(sed -n "s/^task [0-3] sees GPUs \([0-9]*\), $runs\$/\1/p" "$work/multi.out" | sort | tr '\n' ' ')
  [ "$bound" = "0 1 2 3 " ] || fail "slurm/multi-node-gpus.sbatch did not give its 4 ranks one GPU each: $(cat "$work/multi.out")"
  # One node: every rank sees all the node's GPUs (gradcore picks by node-local rank).
  [ "$(grep -c "^task [0-3] sees GPUs 0,1,2,3, $runs\$" "$work/one.out")" = 4 ] ||
    fail "slurm/one-node-gpus.sbatch did not show its 4 ranks all 4 GPUs: $(cat "$work/one.out")"
  say "GPU templates: one GPU per rank (multi-node), all GPUs to every rank (one node)"
else
  say "GPU templates not run: mknod cannot create the fake GPU devices here"
fi

sweep=$tmp/sweep
(cd "$work" && "$repo/slurm/scaling.sh" --cpu --ranks 1,2 --ranks-per-node 2 --cpus-per-task 1 --n 4000 \
   --n-per-rank 2000 --d 8 --classes 4 --k 40 --methods craig,gmc --with gmc="--sketch 16" \
   --sbatch "--time=00:05:00" --out-dir "$sweep" -- --hidden 32) >"$tmp/log/scaling.out" ||
  fail "slurm/scaling.sh failed: $(cat "$tmp/log/scaling.out")"
for _ in $(seq 240); do [ -z "$(squeue -h)" ] && break; sleep 0.5; done
[ -z "$(squeue -h)" ] || fail "the sweep's jobs did not finish within 120 s: $(squeue)"
say "sweep done"
for tag in {strong,weak}-{craig,gmc}-p{1,2}; do
  [ -s "$sweep/$tag.h5" ] || fail "the sweep wrote no coreset $tag.h5"
done
"$python" "$repo/slurm/report" "$sweep" || fail "slurm/report failed"
"$python" - "$sweep" <<'EOF' || fail "the scaling report is wrong"
import csv
import os
import sys
d = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(d, "scaling.csv"))))
runs = {(r["study"], r["method"], int(r["ranks"])) for r in rows}
want = {(s, m, p) for s in ("strong", "weak") for m in ("craig", "gmc") for p in (1, 2)}
assert runs == want, f"runs {sorted(runs)}, want {sorted(want)}"
for r in rows:
    assert float(r["total_s"]) > 0 and float(r["efficiency"]) > 0, r
    assert int(r["N"]) == (4000 if r["study"] == "strong" else 2000 * int(r["ranks"])), r
    if r["study"] == "strong":
        assert r["same_coreset"] == "yes", f"{r['method']} on {r['ranks']} ranks chose another coreset"
    if int(r["ranks"]) == 1:
        assert float(r["speedup"]) == 1.0 and float(r["efficiency"]) == 1.0, r
table = open(os.path.join(d, "scaling.md")).read()
for heading in ("strong scaling, craig", "strong scaling, gmc", "weak scaling, craig", "weak scaling, gmc"):
    assert heading in table, f"no '{heading}' table"
with open(os.path.join(d, "scaling.png"), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n", "scaling.png is not a PNG"
EOF
say "report: scaling.csv, scaling.md, scaling.png"
say "PASS"
