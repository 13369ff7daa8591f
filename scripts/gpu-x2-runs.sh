#!/usr/bin/env bash
# On a 2-GPU host (ON the GPU machine from the repository root, build-gpu/gradcore and the .deps
# bundle carried along): stochastic-greedy facility location on 10M points across both GPUs, its
# objective ratio to exact greedy on a 1M-point subsample, and the OMP strong (16M rows) and weak
# (8M rows per GPU) sweeps at 1 and 2 GPUs with GPU scoring. Every step writes its result into $OUT
# as it finishes (the device tool returns at most 8 files: keep to that).
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
WORK=/tmp/gpu-work
rm -rf "$WORK"
mkdir -p "$OUT" "$WORK"
bins=(build-gpu/gradcore)
source scripts/gpu-env.sh
export GRADCORE_BIN=$PWD/build-gpu/gradcore OMPI_MCA_rmaps_base_oversubscribe=1 OMP_WAIT_POLICY=passive
fl() { # fl TAG N K [options]: facility location on both GPUs, features of the synthetic rows
  local tag=$1 n=$2 k=$3 t0=$SECONDS
  shift 3
  timeout 200 "${mpirun[@]}" -np 2 --bind-to none -x OMP_NUM_THREADS=16 build-gpu/gradcore select --device cuda \
    --data "synthetic:n=$n,d=32,classes=10,seed=5" --embedding features --k "$k" --out "$WORK/$tag.h5" \
    --timings "$WORK/$tag.json" --quiet "$@"
  echo "=== $tag: rc=$? in $((SECONDS - t0)) s"
}
fl stochastic-10M 10000000 10000 --stochastic 0.1
fl exact-1M 1000000 1000
fl stochastic-1M 1000000 1000 --stochastic 0.1
python3 - "$WORK" <<'PY' | tee "$OUT/fl-stochastic-h200x2.txt"
import json, sys, h5py
w = sys.argv[1]
t = {p["name"]: p["max_s"] for p in json.load(open(f"{w}/stochastic-10M.json"))["phases"]}
print("stochastic greedy (eps = 0.1), 10M points, d = 32, 10 classes, k = 10000, 2 ranks on 2 H200: "
      + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
f = {x: h5py.File(f"{w}/{x}-1M.h5").attrs["objective"] for x in ("exact", "stochastic")}
print(f"1M-point subsample, k = 1000: F(stochastic) / F(exact) = {f['stochastic'] / f['exact']:.5f}")
PY
for s in strong weak; do
  t0=$SECONDS
  if [ $s = strong ]; then size=(--n 16000000); else size=(--n-per-rank 8000000); fi
  timeout 200 slurm/scaling.sh --local --cpus-per-task 16 --out-dir "$WORK/omp-$s" --study $s --methods gmc --ranks 1,2 \
    "${size[@]}" --k 200 >"$WORK/omp-$s.log" 2>&1
  echo "=== omp-$s: rc=$? in $((SECONDS - t0)) s"
  python3 slurm/report "$WORK/omp-$s" >/dev/null 2>&1
  cp "$WORK/omp-$s/scaling.md" "$OUT/omp-$s-h200x2.md"
  cp "$WORK/omp-$s/scaling.png" "$OUT/omp-$s-h200x2.png"
  cat "$OUT/omp-$s-h200x2.md" | tail -6
done
