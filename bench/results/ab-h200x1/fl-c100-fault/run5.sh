#!/usr/bin/env bash
# Verification (nvidia-h200): choose_exact reads `done` once a block. The GPU tests, then craig at
# C = 100 on 16M rows sixteen times (the fault came in one run of five before: 2 of 15 runs in
# calls 1 and 4 of this session), every coreset compared with the first; then the e2e record
# (BiCo's refit on one BLAS thread too).
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
DEADLINE_S=200 bash scripts/gpu.sh tests >"$R/tests.log" 2>&1
echo "tests rc=$?" >>"$R/tests.log"
cp bench/results/tests-h200x1.txt "$R/" 2>/dev/null
for rep in $(seq 1 16); do
  timeout 60 mpirun --allow-run-as-root --oversubscribe -np 1 "$BIN/gradcore" select --device cuda \
    --data synthetic:n=16000000,d=128,classes=100,seed=1 --method craig --k 0.1% --out /tmp/f$rep.h5 --quiet \
    >>"$R/loop.txt" 2>&1
  echo "rep $rep rc=$?" >>"$R/loop.txt"
done
python3 -c "$(sed -n "/^SAME_CORESETS='/,/^'/p" scripts/gpu.sh | sed '1d;$d')" "craig C = 100" /tmp/f{1..16}.h5 \
  >>"$R/loop.txt" 2>&1
DEADLINE_S=120 bash scripts/gpu.sh e2e >"$R/e2e.log" 2>&1
mkdir -p "$R/e2e" && cp -r bench/results/e2e-h200x1.md bench/results/e2e-h200x1 "$R/e2e/" 2>/dev/null
tar -cf "$OUT/r.tar" -C "$OUT" r
