#!/usr/bin/env bash
# Diagnosis 2 (nvidia-h200): the head's craig at C = 100 under compute-sanitizer's initcheck (1M
# rows), then the e2e call's order again: bench_embed's cases (which leave the GPU's memory full of
# their values), then craig and adacore at C = 100 on 16M rows, twice.
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
timeout 150 mpirun --allow-run-as-root --oversubscribe -np 1 compute-sanitizer --tool initcheck --print-limit 5 \
  "$BIN/gradcore" select --device cuda --data synthetic:n=1000000,d=128,classes=100,seed=1 --method craig --k 0.1% \
  --out /tmp/s.h5 >"$R/initcheck.txt" 2>&1
echo "initcheck rc=$?" >>"$R/initcheck.txt"
timeout 150 "$BIN/bench_embed" >"$R/embed.txt" 2>&1
for rep in 1 2; do
  GRADCORE="$BIN/gradcore" NP=1 LIMIT_S=40 METHODS="craig adacore" CLASSES=100 bash bench/e2e/run.sh "/tmp/e2e$rep" \
    >"$R/e2e$rep.txt" 2>&1
  grep -h "error" /tmp/e2e$rep/*.log >>"$R/e2e$rep.txt" 2>/dev/null
done
tar -cf "$OUT/r.tar" -C "$OUT" r
