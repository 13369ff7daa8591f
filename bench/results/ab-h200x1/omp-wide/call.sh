#!/bin/bash
# One H200: OMP scoring in the final wide layout (final: 4 rows a lane fp32, 8 at half width; f8: 8 rows
# a lane and two blocks an SM at every width) against main: GPU tests, pytest select on the GPU, bench_omp
# interleaved (one problem, and 100 classes), the PyTorch OMP peer, gmc whole jobs fp32 (coresets
# bitwise main's) and bf16, ncu of the kernel (bf16, fp32). → $OUT/r.tar
set -u
eval "$(sed -n '/^missing_libraries()/,/^}/p;/^setup_libraries()/,/^}/p' scripts/gpu.sh)"
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; setup_libraries; export LD_LIBRARY_PATH
R=/tmp/r; mkdir -p $R
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv > $R/device.txt
log() { echo "$(date +%T) $*" >> $R/summary.txt; }
finish() { tar -cf $OUT/r.tar -C $R .; }
trap finish EXIT
V="final f8"
exe() { if [ $1 = main ]; then [ $2 = test_omp_cuda ] && echo $BIN/tests/gpu/$2 || echo $BIN/$2; else echo .deps/gpu/ab/$1/$2; fi; }
timeout 120 python3 bench/omp/torch_omp.py >> $R/omp.jsonl 2>>$R/omp.err; log "torch_omp rc=$?"
s=$SECONDS; GRADCORE_BIN="$PWD/.deps/gpu/ab/final/gradcore" GRADCORE_DEVICE=cuda timeout 200 python3 -m pytest -q -p no:cacheprovider tests/gpu/test_select_cuda.py > $R/pytest-select-cuda.txt 2>&1; log "pytest-select-cuda rc=$? $((SECONDS-s))s"
for v in $V; do
  s=$SECONDS; timeout 150 $(exe $v test_omp_cuda) > $R/test_omp_cuda-$v.txt 2>&1; log "test_omp_cuda $v rc=$? $((SECONDS-s))s"
done
for rep in 1 2 3; do for b in main $V; do for p in bf16 fp32; do
  timeout 90 $(exe $b bench_omp) --device cuda --precision $p 4000000:128:200 1000000:256:200 2>>$R/omp.err | sed "s/^{/{\"build\": \"$b\", \"rep\": $rep, /" >> $R/omp.jsonl
  log "bench_omp $b $p rc=${PIPESTATUS[0]}"
done
timeout 60 $(exe $b bench_omp) --device cuda --precision bf16 --classes 100 4000000:128:100 2>>$R/omp.err | sed "s/^{/{\"build\": \"$b\", \"rep\": $rep, /" >> $R/omp-c100.jsonl
done; done
timeout 120 python3 bench/omp/torch_omp.py >> $R/omp.jsonl 2>>$R/omp.err; log "torch_omp rc=$?"
AB_JOBS="gmc:10 gmc:100" AB_REPS=1 AB_ARGS="--precision bf16" DEADLINE_S=150 GPU_SLUG=h200x1 bash scripts/gpu.sh ab > $R/ab-bf16.txt 2>&1; log "ab bf16 rc=$?"
cp bench/results/ab-jobs-h200x1.md $R/ab-jobs-bf16.md; cp -r bench/results/ab-jobs-h200x1 $R/ab-jobs-bf16
AB_JOBS="gmc:10" AB_REPS=1 DEADLINE_S=100 GPU_SLUG=h200x1 bash scripts/gpu.sh ab > $R/ab-fp32.txt 2>&1; log "ab fp32 rc=$?"
cp bench/results/ab-jobs-h200x1.md $R/ab-jobs-fp32.md
for b in main $V; do
  s=$SECONDS
  for p in bf16 fp32; do timeout 60 ncu --clock-control none --section SpeedOfLight --section Occupancy --section WarpStateStats --section ComputeWorkloadAnalysis --section InstructionStats --section SchedulerStats -k regex:score_rows -s 20 -c 1 $(exe $b bench_omp) --device cuda --precision $p 4000000:128:30 > $R/ncu-$b-$p.txt 2>&1; done
  log "ncu $b rc=$? $((SECONDS-s))s"
done
s=$SECONDS
