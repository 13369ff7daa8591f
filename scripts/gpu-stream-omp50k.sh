#!/usr/bin/env bash
# One GPU session's runs (ON the GPU machine from the repository root, with the build-gpu binaries
# named in `bins` and the .deps bundle carried along; prepare with
#   GPU_TARGETS="gradcore bench_omp bench_bico test_omp_cuda test_embed_cuda test_bico_cuda" bash scripts/gpu-bundle.sh).
# Each step has its own time limit, the whole script ends by DEADLINE_S (default 500) so one
# device call holds it, and every result lands in $OUT as its step finishes (at most 8 files):
#   tests.txt                  the CUDA tests: embedding (batches read into pinned staging, a rank's
#                              range gets the whole run's bits), OMP (also from resident embeddings), BiCo;
#   omp-h200.jsonl             bench_omp, the scoring pass against the 2.4 TB/s target;
#   embed-stream-h200.txt      `select` on a 1M × 512 HDF5 file, X read while it is embedded, per-phase
#                              timings, next to a features-only run that measures the read alone;
#   bico-h200.jsonl, bico-select-h200.txt   bench_bico on the GPU and a 1-rank `select --method bico`;
#   omp-k50000-scalapack.txt   OMP with k = 50,000 through the ScaLAPACK refit, 4 ranks sharing the
#                              GPU, with its log and per-phase timings;
#   steps.log                  each step's exit code and seconds.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
bins=(build-gpu/gradcore build-gpu/bench_omp build-gpu/bench_bico build-gpu/tests/gpu/test_omp_cuda
      build-gpu/tests/gpu/test_embed_cuda build-gpu/tests/gpu/test_bico_cuda)
DEADLINE_S=${DEADLINE_S:-500}
source scripts/gpu-env.sh
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$OUT/steps.log"
for t in test_embed_cuda test_omp_cuda test_bico_cuda; do
  step "$t" 90 bash -c "echo '### $t'; build-gpu/tests/gpu/$t; echo \"### $t rc=\$?\"" >> "$OUT/tests.txt" 2>&1
done
step bench_omp 90 bash -c "${mpirun[*]} -np 1 build-gpu/bench_omp --device cuda > $OUT/omp-h200.jsonl"
step gen_h5 90 build-gpu/gradcore gen --out /tmp/stream.h5 --n 1000000 --d 512 --classes 10 --seed 1 --quiet
sel=(select --data /tmp/stream.h5 --device cuda --selector omp --per-class off --k 10 --quiet)
step read_only 60 build-gpu/gradcore "${sel[@]}" --embedding features --timings /tmp/features.json --out /tmp/a.h5
step embed_stream 60 build-gpu/gradcore "${sel[@]}" --embedding logits --hidden 256 --timings /tmp/logits.json --out /tmp/b.h5
for f in features logits; do echo "### --embedding $f"; cat /tmp/$f.json 2>/dev/null; done > "$OUT/embed-stream-h200.txt"
step bench_bico 90 bash -c "${mpirun[*]} -np 1 build-gpu/bench_bico --device cuda > $OUT/bico-h200.jsonl"
step bico_select 45 bash -c "${mpirun[*]} -np 1 build-gpu/gradcore select --device cuda --method bico --k 200 --batch 10 \
  --data synthetic:n=1000000,d=32,classes=10,seed=1 --timings /tmp/bico.json --out /tmp/bico.h5 > $OUT/bico-select-h200.txt 2>&1; \
  cat /tmp/bico.json >> $OUT/bico-select-h200.txt"
step omp_k50000 400 bash -c "OMP_NUM_THREADS=4 ${mpirun[*]} --bind-to none -np 4 build-gpu/gradcore select --device cuda \
  --data synthetic:n=1000000,d=64,classes=10,seed=1 --embedding features --selector omp --per-class off --k 50000 \
  --batch 1000 --ridge 1e-3 --refit scalapack --verbose --timings /tmp/k50k.json --out /tmp/k50k.h5 \
  > $OUT/omp-k50000-scalapack.txt 2>&1; cat /tmp/k50k.json >> $OUT/omp-k50000-scalapack.txt"
