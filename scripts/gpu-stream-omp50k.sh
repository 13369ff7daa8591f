#!/usr/bin/env bash
# One GPU session's runs (ON the GPU machine from the repository root, with the build-gpu binaries
# named below and the .deps bundle carried along; see scripts/gpu-bundle.sh). Each step has its own
# time limit and writes its result to $OUT as it finishes, so a slow step costs only itself:
#   - the CUDA tests of the embedding engine (batches read straight into pinned staging) and OMP;
#   - bench_omp (the scoring pass against the 2.4 TB/s target);
#   - an HDF5 dataset embedded while it is read: `select` on 2M × 512 rows, with per-phase timings,
#     next to a features-only run that measures the read alone;
#   - BiCo's CUDA test and bench_bico when they were built;
#   - OMP with k = 50,000 through the ScaLAPACK refit, 4 ranks sharing the GPU, time per phase.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
bins=(build-gpu/gradcore build-gpu/bench_omp build-gpu/tests/gpu/test_omp_cuda build-gpu/tests/gpu/test_embed_cuda)
[ -x build-gpu/bench_bico ] && bins+=(build-gpu/bench_bico)
source scripts/gpu-env.sh
step() { # step NAME LIMIT_S COMMAND...
  local name=$1 limit=$2 t0=$SECONDS
  shift 2
  timeout "$limit" "$@"
  echo "=== $name: rc=$? in $((SECONDS - t0)) s" | tee -a "$OUT/steps.log"
}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/steps.log"
step test_embed_cuda 90 bash -c "build-gpu/tests/gpu/test_embed_cuda > $OUT/tests.txt 2>&1"
step test_omp_cuda 60 bash -c "build-gpu/tests/gpu/test_omp_cuda >> $OUT/tests.txt 2>&1"
for t in build-gpu/tests/gpu/test_bico*; do
  [ -x "$t" ] && step "$(basename "$t")" 60 bash -c "$t >> $OUT/tests.txt 2>&1"
done
step bench_omp 90 bash -c "${mpirun[*]} -np 1 build-gpu/bench_omp --device cuda > $OUT/omp-h200.jsonl"
step gen_h5 120 build-gpu/gradcore gen --out /tmp/stream.h5 --n 2000000 --d 512 --classes 10 --seed 1 --quiet
sel=(select --data /tmp/stream.h5 --device cuda --selector omp --per-class off --k 10 --quiet)
step read_only 60 build-gpu/gradcore "${sel[@]}" --embedding features --timings "$OUT/embed-stream-features.json" --out /tmp/a.h5
step embed_stream 90 build-gpu/gradcore "${sel[@]}" --embedding logits --hidden 256 --timings "$OUT/embed-stream-logits.json" --out /tmp/b.h5
[ -x build-gpu/bench_bico ] && step bench_bico 120 bash -c "build-gpu/bench_bico --device cuda > $OUT/bico-h200.txt 2>&1"
step omp_k50000 300 bash -c "OMP_NUM_THREADS=4 ${mpirun[*]} --bind-to none -np 4 build-gpu/gradcore select --device cuda \
  --data synthetic:n=1000000,d=64,classes=10,seed=1 --embedding features --selector omp --per-class off --k 50000 \
  --batch 1000 --ridge 1e-3 --refit scalapack --verbose --timings $OUT/omp-k50000-scalapack.json --out /tmp/k50k.h5 \
  > $OUT/omp-k50000-scalapack.txt 2>&1"
