#!/usr/bin/env bash
# One device call (nvidia-h200): the link probe (link_load.cu), the GPU tests, then bench_embed with
# the labels checked a batch at a time ("new") and before it ("before": 1765316 built with
# bench/results/ab-h200x1/embed-labels/trace.patch, run without its GC_* variables), interleaved.
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
nvidia-smi --query-gpu=name,pci.bus_id,driver_version --format=csv >"$R/gpu.txt"
timeout 60 .deps/gpu/diag/link_load >"$R/link_load.txt" 2>&1
DEADLINE_S=200 bash scripts/gpu.sh tests >"$R/tests.log" 2>&1
echo "tests rc=$?" >>"$R/tests.log"
cp bench/results/tests-h200x1.txt "$R/" 2>/dev/null
NEW=$BIN/bench_embed
OLD=.deps/gpu/diag/bench_embed
timeout 120 "$NEW" --repeat 5 --json "$R/new1.json" >"$R/new1.txt" 2>&1
timeout 120 "$OLD" --repeat 5 >"$R/before1.txt" 2>&1
timeout 60 "$NEW" --repeat 5 --only "gmc 4 draws" >"$R/new2-gmc.txt" 2>&1
timeout 60 "$OLD" --repeat 5 --only "gmc 4 draws" >"$R/before2-gmc.txt" 2>&1
tar -cf "$OUT/r.tar" -C "$OUT" r
