#!/bin/bash
# Device call 1 (2026-11-29): the GPU test binaries on head (the scan reading its dots as 4-float
# vectors from rows padded to 4; test_fl_assign_cuda's equidistant case, new in d4a55c4), then
# bench_fl assign's GEMM path in tiles of R rows, head against base (25fe050: the scan of ea0e514
# with the bench's tile field), interleaved; ncu on the scan of each and on a few tiles' kernels.
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
dir_of() { [ $1 = head ] && echo $BIN || echo .deps/gpu/ab/$1; }
for rows in 6710 4224 8448 2112 16896; do
  for v in head base; do
    timeout 60 $(dir_of $v)/bench_fl assign 2000000:100:100:10000:fp32:$rows 2>> $R/bench.err |
      sed "s/^{/{\"variant\": \"$v\", /" >> $R/assign.jsonl
    echo "$v $rows $((SECONDS-T0)) s" >> $R/times.txt
  done
done
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
for v in head base; do
  timeout 60 $NCU --clock-control none --cache-control none --section WarpStateStats --section Occupancy \
    --section SpeedOfLight --section LaunchStats --section MemoryWorkloadAnalysis --csv --page raw \
    -k regex:nearest_from_dots --launch-skip 40 -c 1 \
    $(dir_of $v)/bench_fl assign 2000000:100:100:10000:fp32:6710 > $R/ncu-scan-$v.csv 2>> $R/ncu.err
  echo "ncu scan $v $((SECONDS-T0)) s" >> $R/times.txt
done
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,smsp__sass_inst_executed_op_local_st.sum
timeout 60 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw \
  --launch-skip 400 -c 24 $BIN/bench_fl assign 2000000:100:100:10000:fp32:6710 > $R/ncu-all-head.csv 2>> $R/ncu.err
echo "end $((SECONDS-T0)) s" >> $R/times.txt
