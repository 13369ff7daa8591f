#!/usr/bin/env bash
# Device call (nvidia-h200): BiCo's summary in batched sub-block GEMMs, its unweighted refit grown by
# the round's points, a round's winners' features in one gather ("head") against 8a7fd0c (16 MiB
# summary blocks by one DSYRK and GEMM, the refit from scratch, a copy a winner): the GPU tests,
# bico at C = 10 and 100 on 16M rows twice each, interleaved, bench-bico (coresets of 1, 2 and 4
# ranks compared bit for bit), and the e2e record.
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
DEADLINE_S=200 bash scripts/gpu.sh tests >"$R/tests.log" 2>&1
echo "tests rc=$?" >>"$R/tests.log"
cp bench/results/tests-h200x1.txt "$R/" 2>/dev/null
AB_JOBS="bico:10 bico:100" AB_REPS=2 DEADLINE_S=150 bash scripts/gpu.sh ab >"$R/ab.log" 2>&1
mkdir -p "$R/ab" && cp -r bench/results/ab-jobs-h200x1.md bench/results/ab-jobs-h200x1 "$R/ab/" 2>/dev/null
DEADLINE_S=150 bash scripts/gpu.sh bench-bico >"$R/bico.log" 2>&1
cp bench/results/bico-select-h200x1.txt bench/results/bico-h200x1.jsonl "$R/" 2>/dev/null
DEADLINE_S=120 bash scripts/gpu.sh e2e >"$R/e2e.log" 2>&1
mkdir -p "$R/e2e" && cp -r bench/results/e2e-h200x1.md bench/results/e2e-h200x1 "$R/e2e/" 2>/dev/null
tar -cf "$OUT/r.tar" -C "$OUT" r
