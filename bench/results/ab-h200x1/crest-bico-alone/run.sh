#!/usr/bin/env bash
# One device call (nvidia-h200): the GPU tests with CREST and BiCo reading E on the device alone,
# then whole jobs of crest and bico at 16M generated rows (C = 10 and 100), this build ("head") and
# 98405c8 (both copies of E) interleaved, twice each, with a check that every coreset is bitwise
# the first build's.
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
nvidia-smi --query-gpu=name,pci.bus_id,driver_version --format=csv >"$R/gpu.txt"
DEADLINE_S=250 bash scripts/gpu.sh tests >"$R/tests.log" 2>&1
echo "tests rc=$?" >>"$R/tests.log"
cp bench/results/tests-h200x1.txt "$R/" 2>/dev/null
AB_JOBS="crest:10 crest:100 bico:10 bico:100" AB_REPS=2 DEADLINE_S=300 bash scripts/gpu.sh ab >"$R/ab.log" 2>&1
echo "ab rc=$?" >>"$R/ab.log"
cp -r bench/results/ab-jobs-h200x1.md bench/results/ab-jobs-h200x1 "$R/" 2>/dev/null
tar -cf "$OUT/r.tar" -C "$OUT" r
