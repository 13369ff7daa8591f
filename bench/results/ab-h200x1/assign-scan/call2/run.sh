#!/bin/bash
# Device call 2 (2026-11-29): head rules most dots out in float before forming a in double, starts
# each lane's running minimum at the warp's least a of its first 128 elements, and reads 4 dots and
# 4 norms at once (4 vectors in flight; fl2: 2); base 25fe050 as in call 1. The GPU test binaries on
# head, bench_fl assign's GEMM path in tiles of R rows (variants interleaved), ncu on each scan.
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r; mkdir -p $R
trap 'tar -cf $OUT/r.tar -C $R .' EXIT
for t in $BIN/tests/gpu/test_*; do
  timeout 120 $t > $R/$(basename $t).txt 2>&1
  echo "$(basename $t) rc=$? $((SECONDS-T0)) s" >> $R/tests.txt
done
dir_of() { [ $1 = head ] && echo $BIN || echo .deps/gpu/ab/$1; }
for rows in 6710 16896; do
  for v in head fl2 base; do
    timeout 60 $(dir_of $v)/bench_fl assign 2000000:100:100:10000:fp32:$rows 2>> $R/bench.err |
      sed "s/^{/{\"variant\": \"$v\", /" >> $R/assign.jsonl
    echo "$v $rows $((SECONDS-T0)) s" >> $R/times.txt
  done
done
timeout 90 $BIN/bench_fl assign 2000000:100:100:10000:bf16 4000000:100:100:160 2>> $R/bench.err |
  sed "s/^{/{\"variant\": \"head\", /" >> $R/assign.jsonl
echo "head auto $((SECONDS-T0)) s" >> $R/times.txt
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,smsp__inst_executed.sum,smsp__thread_inst_executed_per_inst_executed.ratio,smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio
for v in head fl2; do
  timeout 60 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw \
    --launch-skip 400 -c 12 $(dir_of $v)/bench_fl assign 2000000:100:100:10000:fp32:6710 > $R/ncu-all-$v.csv 2>> $R/ncu.err
  echo "ncu $v $((SECONDS-T0)) s" >> $R/times.txt
done
