#!/bin/bash
# Device call 6 (2026-11-29): the form committed (call 5's head, tiles of 512 MB of dots) against
# base 25fe050 (256 MB): the GPU test binaries, the select tests on CUDA, and bench_fl assign with
# each build's own tile (every path, fp32 and bf16, builds interleaved) while time is left.
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r; mkdir -p $R
trap 'tar -cf $OUT/r.tar -C $R .' EXIT
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem,memory.total --format=csv > $R/device.txt
for t in $BIN/tests/gpu/test_*; do
  timeout 120 $t > $R/$(basename $t).txt 2>&1
  echo "$(basename $t) rc=$? $((SECONDS-T0)) s" >> $R/tests.txt
done
timeout 160 env GRADCORE_BIN="$BIN/gradcore" GRADCORE_DEVICE=cuda GRADCORE_LIBRARY="$BIN/libgradcore.so" \
  python3 -m pytest -q -p no:cacheprovider tests/gpu/test_select_cuda.py > $R/pytest-select-cuda.txt 2>&1
echo "pytest-select-cuda rc=$? $((SECONDS-T0)) s" >> $R/tests.txt
dir_of() { [ $1 = head ] && echo $BIN || echo .deps/gpu/ab/$1; }
for c in 2000000:100:100:10000 2000000:100:100:10000:bf16; do
  for v in head base; do
    [ $((SECONDS-T0)) -lt 265 ] || break 2
    timeout 60 $(dir_of $v)/bench_fl assign $c 2>> $R/bench.err | sed "s/^{/{\"variant\": \"$v\", /" >> $R/assign.jsonl
    echo "$v $c $((SECONDS-T0)) s" >> $R/times.txt
  done
done
echo "end $((SECONDS-T0)) s" >> $R/times.txt
