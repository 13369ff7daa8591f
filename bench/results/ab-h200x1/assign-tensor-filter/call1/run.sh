#!/bin/bash
# Device call 1 (2026-11-29): the exact assignment's GEMM path with its filter on the tensor cores
# (16-bit operands: stored bf16/fp16 values, or the bfloat16 split of FP32 ones) and the scan's
# bound the same for a set (head), against main e4cc174 with the same bench_fl (base): the GPU
# tests, bench_fl assign (E kept on the device at fp32 and bf16, and from pageable memory), ncu.
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r; mkdir -p $R
trap 'tar -cf $OUT/r.tar -C $R .' EXIT
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem,memory.total --format=csv > $R/device.txt
dir_of() { [ $1 = head ] && echo $BIN || echo .deps/gpu/ab/$1; }
for t in test_fl_assign_cuda test_fl_cuda; do
  timeout 150 $BIN/tests/gpu/$t > $R/$t-head.txt 2>&1
  echo "head $t rc=$? $((SECONDS-T0)) s" >> $R/tests.txt
done
for v in base head; do
  timeout 170 $(dir_of $v)/bench_fl assign 2000000:100:100:10000 2000000:100:100:10000:bf16 4000000:100:100:160 \
    4000000:128:10:500 4000000:10:10:1600 2>> $R/bench.err | sed "s/^{/{\"variant\": \"$v\", /" >> $R/assign.jsonl
  echo "$v bench $((SECONDS-T0)) s" >> $R/times.txt
done
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,sm__warps_active.avg.pct_of_peak_sustained_active
for c in 2000000:100:100:10000:bf16 2000000:100:100:10000; do
  [ $((SECONDS-T0)) -lt 470 ] || break
  timeout 60 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw \
    -k 'regex:nearest_from_dots|gemm|make_operands|Kernel' --launch-skip 300 -c 24 $BIN/bench_fl assign $c \
    > $R/ncu-head-${c//:/-}.csv 2>> $R/ncu.err
done
echo "end $((SECONDS-T0)) s" >> $R/times.txt
