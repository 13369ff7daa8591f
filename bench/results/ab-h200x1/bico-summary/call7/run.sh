#!/bin/bash
# Device call 7 (2026-11-29): BiCo's data summary summed in place from the scorer's copy of Z
# (bico_summary_add_own, no copy and no wait a block) against d358c6a (a block per
# bico_summary_add): test_bico_cuda, pytest select on CUDA, the 16M-row jobs with their new
# sub-phases, coresets compared.
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r; mkdir -p $R /tmp/w
trap 'tar -cf $OUT/r.tar -C $R .' EXIT
timeout 120 $BIN/tests/gpu/test_bico_cuda > $R/test_bico_cuda.txt 2>&1; echo "test_bico_cuda rc=$?" >> $R/tests.txt
echo "e2e $((SECONDS-T0))" >> $R/times.txt
for rep in 1 2; do for c in 10 100; do for b in d358c6a head; do
  g=$BIN/gradcore; [ $b = head ] || g=.deps/gpu/ab/$b/gradcore
  timeout 60 $g select --device cuda --data synthetic:n=16000000,d=128,classes=$c,seed=1 --method bico --k 0.1% \
    --timings $R/bico-c$c-$b-$rep.json --out /tmp/w/bico-c$c-$b-$rep.h5 --quiet >> $R/e2e.log 2>&1; echo "bico c$c $b $rep rc=$?" >> $R/e2e.log
done; done; done
timeout 60 python3 - /tmp/w/bico-c*-*.h5 > $R/coresets-compare.txt 2>&1 <<'PY'
import sys, h5py, numpy as np
files = sorted(sys.argv[1:])
for c in ("c10", "c100"):
    group = [f for f in files if f"-{c}-" in f]
    first = h5py.File(group[0], "r")
    for name in group[1:]:
        other = h5py.File(name, "r")
        differ = [d for d in first["coreset"] if not np.array_equal(first["coreset"][d][()], other["coreset"][d][()])]
        print(name, "DIFFERS " + ", ".join(differ) if differ else "bitwise equal to", group[0])
PY
echo "pytest $((SECONDS-T0))" >> $R/times.txt
GRADCORE_BIN=$BIN/gradcore GRADCORE_DEVICE=cuda timeout 150 python3 -m pytest -q -p no:cacheprovider tests/gpu/test_select_cuda.py > $R/pytest-select-cuda.txt 2>&1
echo "pytest-select-cuda rc=$?" >> $R/tests.txt
echo "end $((SECONDS-T0))" >> $R/times.txt
