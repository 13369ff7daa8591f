#!/usr/bin/env bash
# CREST benchmark (docs/design.md §4): P random subsets of r rows drawn from N synthetic rows, a mini-batch
# coreset of m rows chosen from each by facility location (crest preset: logits embeddings from one
# drawn MLP). Appends a record to RESULT: the machine, the exact command, gradcore's summary, and
# rates over the select phase (per-subset time; the r×r double similarity blocks written and their
# GEMM flops, a lower bound on what the greedy moves since it also reads each block).
#
# usage: bench/crest/bench_crest.sh RESULT [extra gradcore select options]
# env:   GRADCORE (build/gradcore)  NP (1)  THREADS (OMP threads per rank, 1)  DEVICE (cpu)
#        N (1000000)  DIN (32)  CLASSES (10)  P (1000)  R (5000)  M (128)  SEED (0)
set -euo pipefail
result=${1:?usage: bench_crest.sh RESULT [gradcore options]}
shift
GRADCORE=${GRADCORE:-build/gradcore} NP=${NP:-1} THREADS=${THREADS:-1} DEVICE=${DEVICE:-cpu}
N=${N:-1000000} DIN=${DIN:-32} CLASSES=${CLASSES:-10} P=${P:-1000} R=${R:-5000} M=${M:-128} SEED=${SEED:-0}
tmp=$(mktemp -d)
out=$tmp/crest.h5
cmd=(mpirun -q --oversubscribe -np "$NP" -x OMP_NUM_THREADS="$THREADS" "$GRADCORE" select
     --data "synthetic:n=$N,d=$DIN,classes=$CLASSES,seed=$SEED" --method crest --subsets "$P" --subset-size "$R"
     --batch-size "$M" --seed "$SEED" --device "$DEVICE" --out "$out" "$@")
load=$(cut -d' ' -f1-3 /proc/loadavg)  # other jobs on a shared node show up in the timings
summary=$("${cmd[@]}")
select_s=$(sed -n 's/.* select \([0-9.]*\) s.*/\1/p' <<<"$summary")
D=$(sed -n 's/.* D = \([0-9]*\),.*/\1/p' <<<"$summary")
{
    echo "# bench/crest/bench_crest.sh, $(date -u +%Y-%m-%d), $("$GRADCORE" select --version)"
    echo "# machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB," \
         "$(uname -m); $NP rank(s) x $THREADS OpenMP thread(s), --device $DEVICE; load average before: $load"
    if [ "$DEVICE" != cpu ] && command -v nvidia-smi >/dev/null; then
        echo "# gpus: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | paste -sd ';')"
    fi
    echo "# command: OMP_NUM_THREADS=$THREADS ${cmd[*]}"
    sed 's/^/  /' <<<"$summary"
    awk -v P="$P" -v R="$R" -v D="$D" -v s="$select_s" 'BEGIN {
        printf "P = %d subsets of r = %d, D = %d: select %.2f s, %.1f ms per subset; similarity blocks %.1f GB/s written, %.1f GFLOP/s GEMM\n",
               P, R, D, s, 1000 * s / P, P * 8 * R * R / s / 1e9, P * 2 * R * R * D / s / 1e9 }'
    echo
} | tee -a "$result"
rm -rf "$tmp"
