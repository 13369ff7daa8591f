#!/bin/bash
# Device call 5 (2026-11-29): where BiCo's scoring round goes at 16M rows (bench_bico reads Z at
# 275–345 GB/s): the scoring GEMM's orientations and math modes (score_gemm.cu), ncu of a round's
# kernels, and the two e2e BiCo jobs as they are.
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r; mkdir -p $R
trap 'tar -cf $OUT/r.tar -C $R .' EXIT
timeout 150 ./score_gemm > $R/score_gemm.txt 2>&1
echo "e2e $((SECONDS-T0))" >> $R/times.txt
for c in 10 100; do
  timeout 60 $BIN/gradcore select --device cuda --data synthetic:n=16000000,d=128,classes=$c,seed=1 --method bico --k 0.1% \
    --timings $R/bico-c$c.json --out /tmp/bico-c$c.h5 --quiet > $R/bico-c$c.log 2>&1
done
echo "ncu $((SECONDS-T0))" >> $R/times.txt
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,launch__grid_size
for c in 10 100; do
  timeout 120 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw -k 'regex:finish_scores|finish_quadratic|gemm|Gemm|Radix|radix|best|take|pick' \
    --launch-skip 300 -c 60 $BIN/gradcore select --device cuda --data synthetic:n=2000000,d=128,classes=$c,seed=1 --method bico --k 0.1% \
    --out /tmp/ncu-c$c.h5 --quiet > $R/ncu-c$c.csv 2> $R/ncu-c$c.err
done
echo "end $((SECONDS-T0))" >> $R/times.txt
