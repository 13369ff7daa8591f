#!/usr/bin/env bash
# One device call (nvidia-h200): the GPU tests, then bench_embed at this change ("new") and at
# ebd283d ("main", .deps/gpu/ab/ebd283d/bench_embed) interleaved, and new at twice the gmc batch height.
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
nvidia-smi --query-gpu=name,pci.bus_id,driver_version --format=csv >"$R/gpu.txt"
DEADLINE_S=200 bash scripts/gpu.sh tests >"$R/tests.log" 2>&1
echo "tests rc=$?" >>"$R/tests.log"
cp bench/results/tests-*.txt "$R/" 2>/dev/null
NEW=$BIN/bench_embed
OLD=.deps/gpu/ab/ebd283d/bench_embed
timeout 120 "$NEW" --repeat 5 --json "$R/new1.json" >"$R/new1.txt" 2>&1
timeout 120 "$OLD" --repeat 5 --json "$R/main1.json" >"$R/main1.txt" 2>&1
timeout 60 "$NEW" --repeat 5 --only "gmc 4 draws sketch 64" >"$R/new2-gmc.txt" 2>&1
timeout 60 "$OLD" --repeat 5 --only "gmc 4 draws sketch 64" >"$R/main2-gmc.txt" 2>&1
timeout 60 "$NEW" --repeat 5 --only "gmc 4" --batch-rows 44000 >"$R/new-gmc-batch44000.txt" 2>&1
tar -cf "$OUT/r.tar" -C "$OUT" r
