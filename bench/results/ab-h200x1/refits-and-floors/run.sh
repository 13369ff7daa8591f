#!/usr/bin/env bash
# Device call (nvidia-h200): OMP's refits side by side and BiCo's summary in 16 MiB blocks
# ("head") against 8670521 (one refit at a time, 1,024-row summary blocks), every phase with a
# floor: the GPU tests, gmc at C = 100, bico at C = 10 and 100 and craig at C = 10 (16M rows)
# twice each, interleaved, the e2e record, then the facility-location fault hunt: craig at
# C = 100 on 16M rows six times, and compute-sanitizer racecheck on 200k rows.
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
DEADLINE_S=200 bash scripts/gpu.sh tests >"$R/tests.log" 2>&1
echo "tests rc=$?" >>"$R/tests.log"
cp bench/results/tests-h200x1.txt "$R/" 2>/dev/null
AB_JOBS="gmc:100 bico:10 bico:100 craig:10" AB_REPS=2 DEADLINE_S=150 bash scripts/gpu.sh ab >"$R/ab.log" 2>&1
mkdir -p "$R/ab" && cp -r bench/results/ab-jobs-h200x1.md bench/results/ab-jobs-h200x1 "$R/ab/" 2>/dev/null
DEADLINE_S=120 bash scripts/gpu.sh e2e >"$R/e2e.log" 2>&1
mkdir -p "$R/e2e" && cp -r bench/results/e2e-h200x1.md bench/results/e2e-h200x1 "$R/e2e/" 2>/dev/null
for rep in 1 2 3 4 5 6; do
  timeout 40 mpirun --allow-run-as-root --oversubscribe -np 1 "$BIN/gradcore" select --device cuda \
    --data synthetic:n=16000000,d=128,classes=100,seed=1 --method craig --k 0.1% --out /tmp/f$rep.h5 --quiet \
    >>"$R/fault-loop.txt" 2>&1
  echo "rep $rep rc=$?" >>"$R/fault-loop.txt"
done
python3 -c "$(sed -n "/^SAME_CORESETS='/,/^'/p" scripts/gpu.sh | sed '1d;$d')" "craig C = 100" /tmp/f[1-6].h5 \
  >>"$R/fault-loop.txt" 2>&1
timeout 150 mpirun --allow-run-as-root --oversubscribe -np 1 compute-sanitizer --tool racecheck --print-limit 5 \
  "$BIN/gradcore" select --device cuda --data synthetic:n=200000,d=128,classes=100,seed=1 --method craig --k 0.1% \
  --out /tmp/s.h5 >"$R/racecheck.txt" 2>&1
echo "racecheck rc=$?" >>"$R/racecheck.txt"
tar -cf "$OUT/r.tar" -C "$OUT" r
