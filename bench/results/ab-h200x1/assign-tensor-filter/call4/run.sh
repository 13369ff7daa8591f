#!/bin/bash
# Device call 4 (2026-11-29): the filter's operands and dots centred on each set's mean, always the
# bfloat16 split (head), against main e4cc174 with the same bench_fl (base): every GPU test binary
# and the select tests on CUDA, bench_fl assign paired, ncu on the scan.
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
timeout 200 env GRADCORE_BIN="$BIN/gradcore" GRADCORE_DEVICE=cuda GRADCORE_LIBRARY="$BIN/libgradcore.so" \
  python3 -m pytest -q -p no:cacheprovider tests/gpu/test_select_cuda.py > $R/pytest-select-cuda.txt 2>&1
echo "pytest-select-cuda rc=$? $((SECONDS-T0)) s" >> $R/tests.txt
dir_of() { [ $1 = head ] && echo $BIN || echo .deps/gpu/ab/$1; }
for v in head base; do
  timeout 150 $(dir_of $v)/bench_fl assign 2000000:100:100:10000 2000000:100:100:10000:bf16 4000000:100:100:160 \
    4000000:100:100:40 2>> $R/bench.err | sed "s/^{/{\"variant\": \"$v\", /" >> $R/assign.jsonl
  echo "$v bench $((SECONDS-T0)) s" >> $R/times.txt
done
[ $((SECONDS-T0)) -lt 420 ] && timeout 100 $BIN/bench_fl assign 4000000:128:10:500 4000000:10:10:1600 2>> $R/bench.err |
  sed "s/^{/{\"variant\": \"head\", /" >> $R/assign.jsonl
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,sm__warps_active.avg.pct_of_peak_sustained_active,smsp__sass_inst_executed_op_local_st.sum
[ $((SECONDS-T0)) -lt 470 ] && timeout 80 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw \
  --launch-skip 400 -c 30 $BIN/bench_fl assign 2000000:100:100:10000 > $R/ncu-all.csv 2>> $R/ncu.err
echo "end $((SECONDS-T0)) s" >> $R/times.txt
