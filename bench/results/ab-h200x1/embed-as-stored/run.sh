#!/usr/bin/env bash
# One device call (nvidia-h200): the GPU tests with E brought home as stored (2 bytes a value in
# bf16) where `select` writes it, then bench_embed's C = 1000 cases and the cases that bring E home
# as stored, each run with the link's rates measured first.
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
nvidia-smi --query-gpu=name,pci.bus_id,driver_version --format=csv >"$R/gpu.txt"
DEADLINE_S=320 bash scripts/gpu.sh tests >"$R/tests.log" 2>&1
echo "tests rc=$?" >>"$R/tests.log"
cp bench/results/tests-h200x1.txt "$R/" 2>/dev/null
timeout 100 "$BIN/bench_embed" --repeat 5 --only "C=1000" --json "$R/c1000.json" >"$R/c1000.txt" 2>&1
timeout 60 "$BIN/bench_embed" --repeat 5 --only "as stored" --json "$R/stored.json" >"$R/stored.txt" 2>&1
tar -cf "$OUT/r.tar" -C "$OUT" r
