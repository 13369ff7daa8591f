#!/bin/bash
# Device call 1 (2026-11-29): the exact assignment's scan a warp a row with one read of the dots,
# and the direct kernel with 2 (head) or 4 (r4) rows a thread, against main (d03d238): the GPU/CPU
# test, bench_fl assign on E kept on the device and streamed from pageable memory, ncu per kernel.
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r; mkdir -p $R
trap 'tar -cf $OUT/r.tar -C $R .' EXIT
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem,memory.total --format=csv > $R/device.txt
V="d03d238 head r4"
dir_of() { [ $1 = head ] && echo $BIN || echo .deps/gpu/ab/$1; }
for v in $V; do
  timeout 120 $(dir_of $v)/tests/gpu/test_fl_assign_cuda > $R/test_fl_assign_cuda-$v.txt 2>&1
  echo "$v test_fl_assign_cuda rc=$?" >> $R/tests.txt
done
echo "bench $((SECONDS-T0))" >> $R/times.txt
for rep in 1 2; do for v in $V; do
  timeout 150 $(dir_of $v)/bench_fl assign 4000000:100:100:160 4000000:10:10:1600 4000000:100:100:40 \
    2000000:100:100:10000 4000000:128:10:500 2>> $R/bench.err | sed "s/^{/{\"variant\": \"$v\", \"rep\": $rep, /" >> $R/assign.jsonl
  echo "$v rep $rep $((SECONDS-T0))" >> $R/times.txt
done; done
echo "ncu $((SECONDS-T0))" >> $R/times.txt
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,sm__warps_active.avg.pct_of_peak_sustained_active
for v in d03d238 head; do
  timeout 90 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw \
    -k 'regex:nearest_from_dots|gemm' --launch-skip 220 -c 20 $(dir_of $v)/bench_fl assign 2000000:100:100:10000 \
    > $R/ncu-$v.csv 2>> $R/ncu.err
done
echo "end $((SECONDS-T0))" >> $R/times.txt
