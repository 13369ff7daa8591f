#!/usr/bin/env bash
# Third device call (nvidia-h200): CREST's subsets greedied together through fl_greedy_many ("head")
# against bdf4252 (one fl_greedy a subset): the GPU tests, crest at C = 10 and 100 on 16M rows three
# times each, interleaved, and bench/crest (1,000 subsets of 5,000 rows, head).
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
DEADLINE_S=250 bash scripts/gpu.sh tests >"$R/tests.log" 2>&1
echo "tests rc=$?" >>"$R/tests.log"
cp bench/results/tests-h200x1.txt "$R/" 2>/dev/null
AB_JOBS="crest:10 crest:100" AB_REPS=3 DEADLINE_S=150 bash scripts/gpu.sh ab >"$R/ab.log" 2>&1
mkdir -p "$R/ab" && cp -r bench/results/ab-jobs-h200x1.md bench/results/ab-jobs-h200x1 "$R/ab/"
DEADLINE_S=150 bash scripts/gpu.sh bench-crest >"$R/crest.log" 2>&1
cp bench/results/crest-h200x1.txt "$R/"
tar -cf "$OUT/r.tar" -C "$OUT" r
