#!/bin/bash
# Device call (2026-11-29): where the exact assignment's GEMM path spends its time at the
# billion-row shape: cuBLAS SGEMM at the tile shapes (sgemm_shape.cu), and ncu of bench_fl assign
# (2M rows, D = 100, 10,000 elements a class; E on the device) per kernel.
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r3; rm -rf $R; mkdir -p $R
trap 'tar -cf $OUT/r.tar -C $R .' EXIT
timeout 60 .deps/gpu/sgemm_shape > $R/sgemm_shape.jsonl 2>&1
echo "ncu $((SECONDS-T0))" >> $R/times.txt
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,sm__warps_active.avg.pct_of_peak_sustained_active,sm__throughput.avg.pct_of_peak_sustained_elapsed
timeout 150 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw \
  -k 'regex:nearest_from_dots|gemm|gather_group' --launch-skip 1000 -c 30 $BIN/bench_fl assign 2000000:100:100:10000 \
  > $R/ncu.csv 2> $R/ncu.err
echo "end $((SECONDS-T0))" >> $R/times.txt
