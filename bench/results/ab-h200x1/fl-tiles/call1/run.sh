#!/bin/bash
# Device call 1 (2026-11-29): finish_tiles against main 98597a4 — micro-bench, GPU tests, bench_fl A/B, ncu, whole jobs.
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r; mkdir -p $R
trap 'cp -r bench/results/ab-jobs-h200x1* $R/ 2>/dev/null; tar -cf $OUT/r.tar -C $R .' EXIT
OLD=.deps/gpu/ab/98597a4
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem,memory.total --format=csv > $R/device.txt
echo "syrk $((SECONDS-T0))" >> $R/times.txt
timeout 90 ./syrk_split > $R/syrk_split.txt 2>&1
echo "tests $((SECONDS-T0))" >> $R/times.txt
for t in $BIN/tests/gpu/test_*; do
  timeout 120 $t > $R/$(basename $t).txt 2>&1; echo "$(basename $t) rc=$?" >> $R/tests.txt
done
echo "bench $((SECONDS-T0))" >> $R/times.txt
for rep in 1 2; do
  for b in old new; do
    bin=$BIN/bench_fl; [ $b = old ] && bin=$OLD/bench_fl
    timeout 100 $bin 128 20000:200 40000:400 >> $R/bench_fl-$b.jsonl 2>> $R/bench_fl-$b.err
  done
done
for b in old new; do
  bin=$BIN/bench_fl; [ $b = old ] && bin=$OLD/bench_fl
  timeout 60 $bin partitions >> $R/partitions-$b.jsonl 2>&1
  timeout 60 $bin partitions 4000 4096 100 9 >> $R/partitions-$b.jsonl 2>&1
done
echo "torch $((SECONDS-T0))" >> $R/times.txt
mkdir -p /tmp/w
timeout 60 $BIN/gradcore gen --out /tmp/w/rows.h5 --n 40000 --d 128 --classes 10 --seed 7 --modes 8 --duplicates 0.05 --quiet
timeout 100 python3 bench/fl/torch_greedy.py /tmp/w/rows.h5 20000:200 40000:400 > $R/torch_greedy.jsonl 2>&1
echo "ncu $((SECONDS-T0))" >> $R/times.txt
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
for b in old new; do
  bin=$BIN/bench_fl; [ $b = old ] && bin=$OLD/bench_fl
  timeout 90 $NCU --clock-control none --cache-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \
    --csv --page raw -k 'regex:finish|add_chunks|syrk|Syrk' -c 8 $bin 128 40000:400 > $R/ncu-$b.csv 2> $R/ncu-$b.err
done
echo "ab $((SECONDS-T0))" >> $R/times.txt
DEADLINE_S=$((560 - (SECONDS-T0) - 100)) AB_JOBS="craig:100 crest:10" AB_REPS=1 GPU_SLUG=h200x1 bash scripts/gpu.sh ab > $R/ab.log 2>&1
echo "pytest $((SECONDS-T0))" >> $R/times.txt
GRADCORE_BIN=$BIN/gradcore GRADCORE_DEVICE=cuda timeout $((575 - (SECONDS-T0))) python3 -m pytest -q -p no:cacheprovider tests/gpu/test_select_cuda.py > $R/pytest-select-cuda.txt 2>&1
echo "pytest rc=$?" >> $R/tests.txt
echo "end $((SECONDS-T0))" >> $R/times.txt
