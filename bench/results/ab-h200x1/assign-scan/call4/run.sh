#!/bin/bash
# Device call 4 (2026-11-29): head recomputes the candidates within 2b of the warp's minimum by the
# whole warp in double first (warp_sq), and only those within (1 + 8γ) of the least by the exact
# sums; a lane's overflow sends the whole warp through the fallback. base: 25fe050. GPU tests
# (a new one-lane overflow case), bench_fl assign in tiles of R rows, ncu on the scan.
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
  for v in head base; do
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
timeout 60 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw \
  --launch-skip 400 -c 6 $BIN/bench_fl assign 2000000:100:100:10000:fp32:6710 > $R/ncu-all-head.csv 2>> $R/ncu.err
echo "ncu $((SECONDS-T0)) s" >> $R/times.txt
CUOBJDUMP=$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)
$CUOBJDUMP -sass $BIN/bench_fl 2>&1 | awk '/Function : .*nearest_from_dotsIfE/{p=1} p&&/Function : / && !/nearest_from_dotsIfE/{p=0} p' > $R/scan-float.sass
echo "end $((SECONDS-T0)) s" >> $R/times.txt
