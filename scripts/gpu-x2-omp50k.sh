#!/usr/bin/env bash
# OMP with k = 50,000 through the ScaLAPACK refit on both GPUs of a 2-GPU host, and the embedding
# benchmark again on the current pipeline (run ON the GPU machine from the repository root; prepare with
#   GPU_TARGETS="gradcore bench_embed test_embed_cuda test_omp_cuda" bash scripts/gpu-bundle.sh
# and carry those four binaries with .deps/debs and .deps/fallback-debs). Results land in $OUT:
#   tests.txt                        the CUDA embedding and OMP tests against the CPU;
#   omp-k50000-scalapack-h200x2.txt  8 ranks (4 per GPU, picked by node-local rank) on a 2 × 4 BLACS
#                                    grid, 4 BLAS threads each: the log and per-phase timings;
#   embed-h200.{txt,json}            bench_embed on one GPU;
#   steps.log                        each step's exit code and seconds.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
bins=(build-gpu/gradcore build-gpu/bench_embed build-gpu/tests/gpu/test_embed_cuda build-gpu/tests/gpu/test_omp_cuda)
DEADLINE_S=${DEADLINE_S:-570}
source scripts/gpu-env.sh
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; echo "cores: $(nproc)"; } | tee -a "$OUT/steps.log"
for t in test_embed_cuda test_omp_cuda; do
  step "$t" 60 bash -c "echo '### $t'; build-gpu/tests/gpu/$t; echo \"### $t rc=\$?\"" >> "$OUT/tests.txt" 2>&1
done
k50k=$OUT/omp-k50000-scalapack-h200x2.txt
step omp_k50000 400 bash -c "OMP_NUM_THREADS=4 OPENBLAS_NUM_THREADS=4 ${mpirun[*]} --bind-to none -np 8 \
  build-gpu/gradcore select --device cuda --data synthetic:n=1000000,d=64,classes=10,seed=1 --embedding features \
  --selector omp --per-class off --k 50000 --batch 1000 --ridge 1e-3 --refit scalapack --verbose \
  --timings /tmp/k50k.json --out /tmp/k50k.h5 > $k50k 2>&1; rc=\$?; cat /tmp/k50k.json >> $k50k; exit \$rc"
step bench_embed 150 bash -c "set -o pipefail; build-gpu/bench_embed --device cuda --json $OUT/embed-h200.json \
  > $OUT/embed-h200.txt"
