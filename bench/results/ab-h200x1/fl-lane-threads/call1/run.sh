#!/bin/bash
# Device call (2026-11-29): facility location's lanes each driven by a host thread of its own
# (head) against one thread driving them in turn (c08885d): the FL GPU tests, bench_fl partitions,
# whole jobs with their coresets compared (scripts/gpu.sh ab).
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r2; rm -rf $R; mkdir -p $R
trap 'tar -cf $OUT/r.tar -C $R .' EXIT
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem,memory.total --format=csv > $R/device.txt
for t in test_fl_cuda test_fl_assign_cuda; do
  timeout 120 $BIN/tests/gpu/$t > $R/$t.txt 2>&1; echo "$t rc=$?" >> $R/tests.txt
done
echo "bench $((SECONDS-T0))" >> $R/times.txt
for rep in 1 2; do for v in c08885d head; do
  b=$BIN/bench_fl; [ $v = head ] || b=.deps/gpu/ab/$v/bench_fl
  timeout 60 $b partitions | sed "s/^{/{\"variant\": \"$v\", /" >> $R/partitions.jsonl
  timeout 60 $b partitions 4000 4096 100 9 | sed "s/^{/{\"variant\": \"$v\", /" >> $R/partitions.jsonl
done; done
echo "jobs $((SECONDS-T0))" >> $R/times.txt
AB_JOBS="craig:100 craig:10 adacore:100 crest:10" AB_REPS=2 DEADLINE_S=300 bash scripts/gpu.sh ab > $R/ab.log 2>&1
cp bench/results/ab-jobs-*.md $R/ 2>/dev/null; cp -r bench/results/ab-jobs-*/ $R/ 2>/dev/null
echo "end $((SECONDS-T0))" >> $R/times.txt
