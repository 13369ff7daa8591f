#!/bin/bash
# Device call 2 (2026-11-29): ncu per kernel of the GEMM path at the billion-row shape (D = 100,
# 10,000 elements a class; 200k rows in 10 classes, E on the device): the timed call's first
# ten tiles (gather, SGEMM, scan), after the warm-up's thirty.
set -u
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r4; rm -rf $R; mkdir -p $R
trap 'tar -cf $OUT/r.tar -C $R .' EXIT
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_bytes.sum,sm__warps_active.avg.pct_of_peak_sustained_active,sm__throughput.avg.pct_of_peak_sustained_elapsed,launch__grid_size,launch__registers_per_thread
timeout 200 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw \
  -k 'regex:nearest_from_dots|gemm|gather_group' --launch-skip 90 -c 30 $BIN/bench_fl assign 200000:100:10:10000 \
  > $R/ncu.csv 2> $R/ncu.err
