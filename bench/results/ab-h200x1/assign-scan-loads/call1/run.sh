#!/bin/bash
# Device call (2026-11-29): the exact assignment's scan with kScanLoads elements' loads issued
# before any is used (head: 8; l4, l16) against the scan as committed (base, 1f00b73): the GPU/CPU
# test, bench_fl assign at the billion-row shape and craig with k = 1% at
# C = 100 (1,600 elements a class: the GEMM path) with its coreset compared.
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r5; rm -rf $R; mkdir -p $R
trap 'tar -cf $OUT/r.tar -C $R .' EXIT
V="base head l4 l16"
dir_of() { [ $1 = head ] && echo $BIN || echo .deps/gpu/ab/$1; }
for v in $V; do
  timeout 60 $(dir_of $v)/tests/gpu/test_fl_assign_cuda > $R/test_fl_assign_cuda-$v.txt 2>&1
  echo "$v test_fl_assign_cuda rc=$?" >> $R/tests.txt
done
for rep in 1 2; do for v in $V; do
  timeout 60 $(dir_of $v)/bench_fl assign 1000000:100:100:10000 2>> $R/bench.err |
    sed "s/^{/{\"variant\": \"$v\", \"rep\": $rep, /" >> $R/assign.jsonl
done; done
echo "jobs $((SECONDS-T0))" >> $R/times.txt
mkdir -p /tmp/w
for rep in 1 2; do for v in base head; do
  g=$BIN/gradcore; [ $v = head ] && g=.deps/gpu/ab/l8/gradcore
  timeout 60 $g select --device cuda --data synthetic:n=16000000,d=128,classes=100,seed=1 --method craig --k 1% \
    --timings $R/craig-k1-$v-$rep.json --out /tmp/w/craig-$v-$rep.h5 --quiet >> $R/craig.log 2>&1
  echo "craig $v $rep rc=$? $((SECONDS-T0))" >> $R/times.txt
done; done
timeout 60 python3 - /tmp/w/craig-*.h5 > $R/same.txt 2>&1 <<'PY'
import sys, h5py, numpy as np
def sets(f):
    with h5py.File(f, "r") as h:
        return {k: h["coreset"][k][()] for k in h["coreset"]}
first = sets(sys.argv[1])
for f in sys.argv[2:]:
    other = sets(f)
    same = first.keys() == other.keys() and all(np.array_equal(first[k], other[k]) for k in first)
    print(f.split("/")[-1], "equal to" if same else "DIFFERS from", sys.argv[1].split("/")[-1], sorted(first))
PY
echo "end $((SECONDS-T0))" >> $R/times.txt
