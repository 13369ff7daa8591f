#!/usr/bin/env bash
# Facility location on one GPU (run ON the GPU machine from the repository root, with what
# scripts/gpu-bundle.sh prepared carried along): the CUDA-vs-CPU greedy test, bench_fl against the
# plain PyTorch dense greedy on the same rows, and the 200k-point objective ratio of 8 partitions
# against one partition (the single block does not fit: GEMM tiles). Results: $OUT/fl-*.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
bins=(build-gpu/gradcore build-gpu/bench_fl build-gpu/tests/gpu/test_fl_cuda)
source scripts/gpu-env.sh
echo "=== test_fl_cuda"
build-gpu/tests/gpu/test_fl_cuda; echo "rc=$?"
echo "=== bench_fl (gradcore) and torch_greedy (PyTorch dense) on the same rows, D = 128"
build-gpu/gradcore gen --out /tmp/fl-bench.h5 --n 40000 --d 128 --classes 10 --seed 7 --modes 8 --duplicates 0.05 --quiet
build-gpu/bench_fl 128 20000:200 40000:400 | tee "$OUT/fl-h200.jsonl"
python3 bench/fl/torch_greedy.py /tmp/fl-bench.h5 20000:200 40000:400 | tee -a "$OUT/fl-h200.jsonl"
echo "=== 200k points: 8 partitions vs one partition (GPU)"
for parts in 1 8; do
  size=$((200000 / parts))
  /usr/bin/time -f "%e s wall" "${mpirun[@]}" -np 1 build-gpu/gradcore select --device cuda \
    --data synthetic:n=200000,d=32,classes=10,seed=3 --embedding features --per-class off --k 200 \
    --partition-size $size --out /tmp/fl-200k-$parts.h5 --timings "$OUT/fl-200k-$parts.json" --quiet
done
python3 - "$OUT" <<'PY' | tee "$OUT/fl-200k-ratio.txt"
import json, sys, h5py
one, eight = (h5py.File(f"/tmp/fl-200k-{p}.h5").attrs["objective"] for p in (1, 8))
times = {p: {ph["name"]: ph["max_s"] for ph in json.load(open(f"{sys.argv[1]}/fl-200k-{p}.json"))["phases"]} for p in (1, 8)}
print(f"200k points, k = 200: F(8 partitions) / F(1 partition) = {eight / one:.5f}  "
      f"(select {times[8]['select']:.2f} s vs {times[1]['select']:.2f} s)")
PY
