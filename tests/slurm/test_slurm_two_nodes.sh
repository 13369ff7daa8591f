#!/usr/bin/env bash
# A real two-node Slurm cluster on one machine (tests/slurm/two_nodes.sh: nodes n1 and n2 in network
# and UTS namespaces of their own, joined by veth ports on a bridge), and slurm/multi-node-gpus.sbatch
# run on it with 2 nodes × 2 ranks through srun (PMIx). Open MPI carries the messages between the
# nodes over TCP on the veth links and inside a node through shared memory (vader). Each node has
# two fake GPUs, so the template's --gpus-per-task=1 is met; GRADCORE_DEVICE=cpu runs gradcore on
# the CPU. Checked:
#   1. facility location (craig) and OMP (features + omp) on 2 × 2 ranks write the coreset of a
#      1-rank run bit for bit (index, weight, label, gain, loss);
#   2. ranks 0-1 ran on n1 and 2-3 on n2, in two different network namespaces, and the row
#      exchange's records crossed n2's link (its byte counter);
#   3. a job killed at its time limit (JobState=TIMEOUT) and submitted again resumes from
#      --checkpoint (some, not all, partitions come from it) and writes the 1-rank coreset.
# Needs root; exits with ctest's skip code 77 without root or when the kernel refuses network or
# UTS namespaces (the reason is printed). Everything it starts is stopped and its namespaces,
# links and files removed on exit, whatever happens.
# Environment: GRADCORE_BIN (the gradcore executable, required), GRADCORE_PYTHON (a Python with
# h5py; default python3).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${GRADCORE_BIN:?GRADCORE_BIN must name the gradcore executable}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
python=${GRADCORE_PYTHON:-python3}
started=$(date +%s)
say() { echo "test_slurm_two_nodes: [$(($(date +%s) - started)) s] $*"; }
fail() { echo "test_slurm_two_nodes: FAIL: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
  echo "test_slurm_two_nodes: skipped: needs root (network namespaces, slurm-wlm and munge, slurmd)"
  exit 77
fi
# shellcheck source=tests/slurm/two_nodes.sh
source "$repo/tests/slurm/two_nodes.sh"
# ip and tc (iproute2) are not in a minimal Debian; without them nothing could be probed.
command -v ip >/dev/null || install_packages iproute2
if ! two_nodes_probe; then
  echo "test_slurm_two_nodes: skipped: the kernel refuses the namespaces two emulated nodes need ($two_nodes_refused)"
  exit 77
fi

tmp=""
cleanup() {
  local rc=$?
  set +e
  trap '' PIPE
  two_nodes_down
  install_slurm_remove_policy
  if [ -n "$tmp" ]; then
    if [ "$rc" != 0 ]; then
      for log in "$tmp"/work/*.out "$tmp"/log/*; do
        [ -s "$log" ] && { echo "---- $log (last 25 lines)"; tail -n 25 "$log"; }
      done >&2
    fi
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install_slurm
say "$(slurmctld -V), $(munged -V 2>&1 | head -n 1)"
tmp=$(mktemp -d /var/tmp/gradcore-two-nodes.XXXXXX)
chmod 755 "$tmp"
work=$tmp/work
mkdir -m 755 "$work"

# Two fake GPUs per node: character devices (Slurm accepts nothing else) that nobody opens.
for i in 0 1; do mknod "$tmp/gpu$i" c 1 3 || fail "mknod cannot create the fake GPU devices here"; done
echo "Name=gpu File=$tmp/gpu[0-1]" >"$tmp/gres.conf"
two_nodes_gres="Gres=gpu:2"
two_nodes_up
say "cluster up: n1 ($two_nodes_subnet.1) and n2 ($two_nodes_subnet.2) idle, slurmctld on $two_nodes_subnet.254"

# The jobs inherit this environment (sbatch --export=ALL): Open MPI's ob1 with TCP between the
# nodes (on the bridge's subnet only) and shared memory inside one.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=$two_nodes_subnet.0/24
export GRADCORE_DEVICE=cpu
# The nodes see /tmp directories of their own, so a build under /tmp (a checkout there) would be
# hidden from them: the executable travels into the shared work directory (gradcore links its own
# code statically; the system libraries are the nodes' too).
cp "$bin" "$work/gradcore"
# A stand-in that records where each rank ran (host name, network namespace), then runs gradcore.
cat >"$work/gradcore-where" <<EOF
#!/bin/sh
echo "\$SLURM_JOB_ID \$SLURM_PROCID \$(hostname) \$(readlink /proc/self/ns/net)" >>"$work/where.txt"
exec "$work/gradcore" "\$@"
EOF
chmod +x "$work/gradcore-where"
export GRADCORE_BIN=$work/gradcore-where

# FL: 24,000 rows of 32 features in 3 classes, partitions of 3,000 rows (9 partitions). A partition is
# greedied by the rank holding its first row (docs/design.md §4.1): each class's second partition
# starts on rank 1 (n1) and ends on rank 2 (n2), so n2 sends n1 about a third of a class's rows.
# OMP: the same rows, features embedding, k = 60.
data="synthetic:n=24000,d=32,classes=3,seed=21"
printf '[select]\ndata = %s\nmethod = craig\nembedding = features\nk = 90\npartition-size = 3000\n' "$data" >"$work/fl.ini"
printf '[select]\ndata = %s\nembedding = features\nselector = omp\nk = 60\nridge = 1e-3\n' "$data" >"$work/omp.ini"
# The time-limit job: facility location, 36 partitions (9 per rank).
big="synthetic:n=80000,d=16,classes=8,seed=5"
printf '[select]\ndata = %s\nmethod = craig\nk = 1%%\npartition-size = 2500\n' "$big" >"$work/big.ini"

tx_bytes() { ip netns exec "$two_nodes_ns_n2" cat /sys/class/net/eth0/statistics/tx_bytes; }
# submit JOB.ini OUT 'SBATCH OPTIONS' [select options]: the template on 2 nodes × 2 ranks; waits.
submit() {
  local job=$1 out=$2 options=$3
  shift 3
  # shellcheck disable=SC2086 # the sbatch options are words
  (cd "$work" && in_hub timeout 150 sbatch --wait --quiet --nodes=2 --ntasks-per-node=2 --cpus-per-task=1 \
     --output="${out%.h5}-%j.out" $options "$repo/slurm/multi-node-gpus.sbatch" "$job" --out "$out" "$@")
}
# The same job on one rank, outside the cluster (no TCP there).
reference() {
  (cd "$work" && env -u OMPI_MCA_btl_tcp_if_include OMPI_MCA_btl=self \
     mpirun -q -np 1 "$bin" select --config "$1" --device cpu --quiet --out "$2")
}
same_coreset() {
  "$python" - "$work/$1" "$work/$2" <<'EOF'
import sys
import h5py
import numpy as np
with h5py.File(sys.argv[1]) as a, h5py.File(sys.argv[2]) as b:
    assert a.attrs["ranks"] == 4 and b.attrs["ranks"] == 1, (a.attrs["ranks"], b.attrs["ranks"])
    for key in ("index", "weight", "label", "gain", "loss"):
        x, y = a["coreset"][key][()], b["coreset"][key][()]
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), \
            f"{key} differs between 2 nodes × 2 ranks and 1 rank"
    print(f"{len(a['coreset/index'][()])} rows, index/weight/label/gain/loss bit for bit")
EOF
}

for method in fl omp; do
  before=$(tx_bytes)
  submit "$method.ini" "$method-2x2.h5" "" || fail "slurm/multi-node-gpus.sbatch ($method) failed (job output below)"
  sent=$(($(tx_bytes) - before))
  reference "$method.ini" "$method-1.h5" || fail "the 1-rank $method run failed"
  result=$(same_coreset "$method-2x2.h5" "$method-1.h5") || fail "$method: 2 × 2 ranks and 1 rank differ"
  say "$method on 2 nodes × 2 ranks: $result; n2's link sent $sent bytes"
  # The row exchange sends n2's rows of the partitions that start on n1, about 1,300 a class (24 +
  # 4·32 bytes each): at least a sixteenth of all rows' records.
  if [ "$method" = fl ] && [ "$sent" -lt $((24000 / 16 * (24 + 4 * 32))) ]; then
    fail "n2's link sent only $sent bytes: the row exchange did not cross the nodes"
  fi
done
jobs=$(cut -d' ' -f1 "$work/where.txt" | sort -u | tr '\n' ' ')
"$python" - "$work/where.txt" <<'EOF' || fail "the ranks did not run 2 per node on n1 and n2: $(cat "$work/where.txt")"
import collections
import sys
runs = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    job, rank, host, netns = line.split()
    runs[job][int(rank)] = (host, netns)
for job, ranks in runs.items():
    assert sorted(ranks) == [0, 1, 2, 3], (job, ranks)
    assert [ranks[r][0] for r in range(4)] == ["n1", "n1", "n2", "n2"], (job, ranks)
    assert ranks[0][1] == ranks[1][1] != ranks[2][1] == ranks[3][1], (job, ranks)
EOF
say "jobs $jobs: ranks 0-1 on n1, 2-3 on n2, two network namespaces"

# Killed at the time limit: Slurm keeps limits in whole minutes, so the job gets one, and once
# rank 0's checkpoint holds a finished partition its ranks are paused (SIGSTOP) until Slurm ends
# the job at the limit (SIGCONT and SIGTERM to every task, SIGKILL KillWait = 2 s later): a small
# job is still running when its limit comes, without two cores working for a minute. Then the same
# job is submitted again, without a limit.
submit big.ini big.h5 "--time=1" --checkpoint ck &
limited=$!
for _ in $(seq 1200); do
  [ -s "$work/ck/fl-partitions-r0.log" ] && break
  kill -0 "$limited" 2>/dev/null || break
  sleep 0.05
done
[ -s "$work/ck/fl-partitions-r0.log" ] || fail "the time-limit job wrote no checkpoint within 60 s"
paused=0
for ns in "$two_nodes_ns_n1" "$two_nodes_ns_n2"; do
  for pid in $(ip netns pids "$ns"); do
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$work/gradcore" ] && kill -STOP "$pid" && paused=$((paused + 1))
  done
done
[ "$paused" = 4 ] || fail "paused $paused gradcore ranks, not 4"
wait "$limited" && fail "the time-limit job finished within its limit"
killed=$(ls "$work"/big-*.out | sed 's/.*big-\([0-9]*\)\.out$/\1/')
state=$(in_hub scontrol show job --oneliner "$killed" | grep -o 'JobState=[A-Z_]*' || true)
[ "$state" = JobState=TIMEOUT ] || fail "job $killed ended in '$state', not JobState=TIMEOUT"
[ -e "$work/big.h5" ] && fail "the job killed at its time limit left a coreset"
say "time-limit job $killed: $state after $(in_hub scontrol show job --oneliner "$killed" | grep -o 'RunTime=[0-9:]*')"
submit big.ini big.h5 "" --checkpoint ck || fail "the resubmitted job failed (job output below)"
resumed=$(sed -n 's/.*select: resumed \([0-9]*\) finished partitions from the checkpoint.*/\1/p' "$work"/big-*.out)
partitions=$(sed -n 's/.*select: facility location, \([0-9]*\) partitions over.*/\1/p' "$work/big-$killed.out")
[ -n "$resumed" ] && [ "$resumed" -gt 0 ] && [ "$resumed" -lt "$partitions" ] ||
  fail "the resubmitted job resumed '${resumed:-no}' of $partitions partitions from the checkpoint"
reference big.ini big-1.h5 || fail "the 1-rank run of the time-limit job failed"
result=$(same_coreset big.h5 big-1.h5) || fail "the resumed job's coreset is not the 1-rank coreset"
say "resubmitted: $resumed of $partitions partitions from the checkpoint; $result"
say "PASS"
