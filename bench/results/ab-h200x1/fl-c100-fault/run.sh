#!/usr/bin/env bash
# Diagnosis (nvidia-h200): craig and adacore at C = 100 on 16M rows hit an illegal memory access in
# the e2e call at ebb1363; here the head and 98405c8 (this session's start) twice each, then the
# head under compute-sanitizer on 1M rows.
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
AB_JOBS="craig:100 adacore:100" AB_REPS=2 DEADLINE_S=150 bash scripts/gpu.sh ab >"$R/ab.log" 2>&1
cp bench/results/ab-jobs-h200x1.md "$R/" 2>/dev/null
grep -h "error" /tmp/gradcore-gpu.*/ab/*.log "$R"/../logs/run.log 2>/dev/null | head -20 >"$R/errors.txt"
timeout 200 mpirun --allow-run-as-root --oversubscribe -np 1 compute-sanitizer --print-limit 5 "$BIN/gradcore" select \
  --device cuda --data synthetic:n=1000000,d=128,classes=100,seed=1 --method craig --k 0.1% --out /tmp/s.h5 \
  >"$R/sanitizer.txt" 2>&1
echo "sanitizer rc=$?" >>"$R/sanitizer.txt"
tar -cf "$OUT/r.tar" -C "$OUT" r
