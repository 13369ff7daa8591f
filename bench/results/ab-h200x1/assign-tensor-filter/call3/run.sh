#!/bin/bash
# Device call 3 (2026-11-29): where a tile's time goes in the tensor-core filter (head as in call 2):
# every kernel of the 10,000-element shape timed by ncu (the GEMM's name is cuBLAS's own), and the
# scan's occupancy, registers, local memory and stall reasons.
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r; mkdir -p $R
trap 'tar -cf $OUT/r.tar -C $R .' EXIT
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,smsp__sass_inst_executed_op_local_ld.sum,smsp__sass_inst_executed_op_local_st.sum,smsp__inst_executed.sum
for c in 2000000:100:100:10000:bf16 2000000:100:100:10000; do
  timeout 120 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw \
    --launch-skip 400 -c 40 $BIN/bench_fl assign $c > $R/ncu-all-${c//:/-}.csv 2>> $R/ncu.err
  echo "${c} $((SECONDS-T0)) s" >> $R/times.txt
done
timeout 120 $NCU --clock-control none --cache-control none --section WarpStateStats --section Occupancy \
  --section SpeedOfLight --section LaunchStats --csv --page details -k regex:nearest_from_dots --launch-skip 40 -c 2 \
  $BIN/bench_fl assign 2000000:100:100:10000:bf16 > $R/ncu-scan-details.csv 2>> $R/ncu.err
echo "end $((SECONDS-T0)) s" >> $R/times.txt
