#!/usr/bin/env bash
# Second device call (nvidia-h200): CREST's member rows gathered through a pinned piece and spread by
# the copy threads ("head") against 24fc458 (a pageable piece, one thread), crest at C = 10 and 100,
# three times each, interleaved; crest and bico at C = 100 in bf16 (head and 24fc458, once); then
# the whole e2e suite (every preset, 16M rows, C = 10 and 100) for bench/results/e2e-h200x1.
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
AB_JOBS="crest:10 crest:100" AB_REPS=3 DEADLINE_S=150 bash scripts/gpu.sh ab >"$R/ab1.log" 2>&1
mkdir -p "$R/ab1" && cp -r bench/results/ab-jobs-h200x1.md bench/results/ab-jobs-h200x1 "$R/ab1/"
AB_JOBS="crest:100 bico:100" AB_REPS=1 AB_ARGS="--precision bf16" DEADLINE_S=120 bash scripts/gpu.sh ab >"$R/ab2.log" 2>&1
mkdir -p "$R/ab2" && cp -r bench/results/ab-jobs-h200x1.md bench/results/ab-jobs-h200x1 "$R/ab2/"
DEADLINE_S=200 bash scripts/gpu.sh e2e >"$R/e2e.log" 2>&1
mkdir -p "$R/e2e" && cp -r bench/results/e2e-h200x1.md bench/results/e2e-h200x1 "$R/e2e/"
tar -cf "$OUT/r.tar" -C "$OUT" r
