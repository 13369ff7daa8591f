#!/bin/bash
# Device call 5 (2026-11-29): head appends the candidates to the warp's list in shared memory (256,
# dropped when half full of ones the shared minimum has passed by 2b), recomputes them exactly one
# a lane at the end; fl2: the same with 2 vectors in flight (77 registers, no spills). base: 25fe050.
# GPU tests, bench_fl assign in tiles of R rows, ncu on the scan.
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
for rows in 6710 16896 33792; do
  for v in head fl2 base; do
    timeout 60 $(dir_of $v)/bench_fl assign 2000000:100:100:10000:fp32:$rows 2>> $R/bench.err |
      sed "s/^{/{\"variant\": \"$v\", /" >> $R/assign.jsonl
    echo "$v $rows $((SECONDS-T0)) s" >> $R/times.txt
  done
done
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,smsp__inst_executed.sum,smsp__thread_inst_executed_per_inst_executed.ratio,smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio
for v in head fl2; do timeout 60 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw \
  --launch-skip 400 -c 6 $(dir_of $v)/bench_fl assign 2000000:100:100:10000:fp32:6710 > $R/ncu-all-$v.csv 2>> $R/ncu.err; done
echo "ncu $((SECONDS-T0)) s" >> $R/times.txt
echo "end $((SECONDS-T0)) s" >> $R/times.txt
