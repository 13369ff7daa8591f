#!/usr/bin/env bash
# Device call (nvidia-h200): greedy_small for blocks up to 4,096 rows with κ ≥ 256 ("head": a merge's
# class at C = 10, about 3,200 candidates and 1,600 steps, in one launch) against 95b63dc (three
# launches a step there): the GPU tests (test_fl_cuda compares one launch with three a step, bit for
# bit, up to 4,096 rows), then craig and adacore at C = 10 and craig at C = 100 on 16M rows twice
# each, interleaved, every coreset compared with the first build's.
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
DEADLINE_S=200 bash scripts/gpu.sh tests >"$R/tests.log" 2>&1
echo "tests rc=$?" >>"$R/tests.log"
cp bench/results/tests-h200x1.txt "$R/" 2>/dev/null
AB_JOBS="craig:10 adacore:10 craig:100" AB_REPS=2 DEADLINE_S=150 bash scripts/gpu.sh ab >"$R/ab.log" 2>&1
mkdir -p "$R/ab" && cp -r bench/results/ab-jobs-h200x1.md bench/results/ab-jobs-h200x1 "$R/ab/" 2>/dev/null
tar -cf "$OUT/r.tar" -C "$OUT" r
