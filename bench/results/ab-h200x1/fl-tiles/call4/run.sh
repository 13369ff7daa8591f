#!/bin/bash
# Device call 4 (2026-11-29): the committed code (638245b): every GPU test, pytest select on CUDA,
# and the bench-fl suite (bench_fl, partitions, assignment, the PyTorch dense greedy, 200k / 10M runs).
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r; mkdir -p $R
trap 'cp bench/results/*-h200x1.* $R/ 2>/dev/null; cp -r logs $R/ 2>/dev/null; tar -cf $OUT/r.tar -C $R .' EXIT
for t in $BIN/tests/gpu/test_*; do
  timeout 120 $t > $R/$(basename $t).txt 2>&1; echo "$(basename $t) rc=$?" >> $R/tests.txt
done
GRADCORE_BIN=$BIN/gradcore GRADCORE_DEVICE=cuda timeout 200 python3 -m pytest -q -p no:cacheprovider tests/gpu/test_select_cuda.py > $R/pytest-select-cuda.txt 2>&1
echo "pytest-select-cuda rc=$?" >> $R/tests.txt
echo "bench-fl from $((SECONDS-T0))" >> $R/times.txt
DEADLINE_S=$((585 - (SECONDS-T0))) GPU_SLUG=h200x1 bash scripts/gpu.sh bench-fl > $R/bench-fl.log 2>&1
echo "end $((SECONDS-T0))" >> $R/times.txt
