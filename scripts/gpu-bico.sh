#!/usr/bin/env bash
# BiCo on one GPU (run ON the GPU machine from the repository root; prepare with
#   GPU_TARGETS="gradcore bench_bico test_bico_cuda" bash scripts/gpu-bundle.sh
# and carry those three binaries with .deps/debs and .deps/fallback-debs). Results land in $OUT:
#   tests.txt             test_bico_cuda: features, scores and the device data summary against
#                         their oracles, and the CUDA selection against the CPU's;
#   bico-h200.jsonl       bench_bico, one case per step (a slow case costs only itself);
#   bico-select-h200.txt  a 1-rank `select --method bico` on 1M rows with per-phase timings, and the
#                         coresets of 1, 2 and 4 ranks sharing the GPU compared bit for bit;
#   steps.log             each step's exit code and seconds.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
bins=(build-gpu/gradcore build-gpu/bench_bico build-gpu/tests/gpu/test_bico_cuda)
DEADLINE_S=${DEADLINE_S:-560}
source scripts/gpu-env.sh
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$OUT/steps.log"
step test_bico_cuda 60 bash -c "build-gpu/tests/gpu/test_bico_cuda; echo \"### test_bico_cuda rc=\$?\"" >> "$OUT/tests.txt" 2>&1
sel=(select --device cuda --method bico --k 200 --batch 10 --quiet)
step bico_select 60 bash -c "${mpirun[*]} -np 1 build-gpu/gradcore ${sel[*]/--quiet/} --data synthetic:n=1000000,d=32,classes=10,seed=1 \
  --timings /tmp/bico.json --out /tmp/bico.h5 > $OUT/bico-select-h200.txt 2>&1; rc=\$?; cat /tmp/bico.json >> $OUT/bico-select-h200.txt; exit \$rc"
for np in 1 2 4; do
  step "bico_np$np" 60 "${mpirun[@]}" -np $np --bind-to none -x OMP_NUM_THREADS=4 build-gpu/gradcore "${sel[@]}" \
    --data synthetic:n=200000,d=32,classes=10,seed=3 --out /tmp/bico-np$np.h5
done
python3 - >> "$OUT/bico-select-h200.txt" 2>&1 <<'PY'
import h5py, numpy as np
runs = {np_: h5py.File(f"/tmp/bico-np{np_}.h5", "r") for np_ in (1, 2, 4)}
for np_ in (2, 4):
    same = all(np.array_equal(runs[1][f"coreset/{d}"][()], runs[np_][f"coreset/{d}"][()]) for d in ("index", "weight"))
    print(f"BiCo on the GPU, N = 200,000, k = 200: -np {np_} coreset {'bitwise equal to' if same else 'DIFFERS from'} -np 1")
PY
for c in 1000000:256 1000000:1024 4000000:256 4000000:1024 250000:4096; do
  step "bench_bico $c" 150 bash -c "${mpirun[*]} -np 1 build-gpu/bench_bico --device cuda $c >> $OUT/bico-h200.jsonl"
done
