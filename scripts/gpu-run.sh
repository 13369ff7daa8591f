#!/usr/bin/env bash
# Runs ON the GPU machine, from the repository root, with what scripts/gpu-bundle.sh prepared
# carried along (build-gpu binaries, .deps/debs, .deps/fallback-debs): the CUDA-vs-CPU embedding
# test, the PyTorch reference test on the CUDA and CPU backends, a 2-rank `select --device cuda`,
# and the embedding benchmark on the GPU and on the CPU. Logs go to $OUT, benchmark results to
# bench/results/ (and to $OUT, which is what comes back). The last lines are a summary table.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT" bench/results
exec > >(tee -a "$OUT/gpu-run.log") 2>&1
bins=(build-gpu/gradcore build-gpu/bench_embed build-gpu/tests/gpu/test_embed_cuda build-gpu/tests/unit/test_embed_cpu)
source scripts/gpu-env.sh

{
  echo "date: $(date -u)"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv
  echo "nproc: $(nproc); mpirun: $(command -v mpirun || echo none) $(mpirun --version 2>/dev/null | head -1)"
  python3 -c 'import torch, numpy, h5py; print("torch", torch.__version__, "numpy", numpy.__version__, "h5py", h5py.__version__)'
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "still missing: $(missing | tr '\n' ' ')"
  ldd build-gpu/gradcore
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt" | head -12

step "unit test_embed_cpu" 120 build-gpu/tests/unit/test_embed_cpu
step "gpu test_embed_cuda (vs CPU)" 300 build-gpu/tests/gpu/test_embed_cuda
step "bench_embed cuda" 420 bash -c "set -o pipefail; build-gpu/bench_embed --device cuda --json '$OUT/embed-h200.json' | tee '$OUT/embed-h200.txt'"
step "reference torch, --device cuda" 300 env GRADCORE_BIN="$PWD/build-gpu/gradcore" GRADCORE_DEVICE=cuda \
  python3 -m pytest -q -p no:cacheprovider tests/reference/test_embeddings_torch.py
step "reference torch, --device cpu" 300 env GRADCORE_BIN="$PWD/build-gpu/gradcore" GRADCORE_DEVICE=cpu \
  python3 -m pytest -q -p no:cacheprovider tests/reference/test_embeddings_torch.py
for device in cuda cpu; do
  step "select 2 ranks --device $device" 120 "${mpirun[@]}" ${mpirun:+-np 2} build-gpu/gradcore select \
    --data synthetic:n=100000,d=128,classes=10,seed=1 --k 1% --embedding lastlayer --sketch 256 --hidden 256 \
    --device "$device" --out "/tmp/coreset-$device.h5"
done
# Passive OpenMP workers: spinning ones would take the cores from OpenBLAS's own GEMM threads.
step "bench_embed cpu (16 cores)" 420 env OMP_WAIT_POLICY=passive bash -c \
  "set -o pipefail; build-gpu/bench_embed --device cpu --rows 200000 --json '$OUT/embed-h200-cpu.json' | tee '$OUT/embed-h200-cpu.txt'"
cp "$OUT"/embed-h200*.json "$OUT"/embed-h200*.txt bench/results/ 2>/dev/null

echo "=== summary"
cat "$OUT/steps.log"
