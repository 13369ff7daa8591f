#!/usr/bin/env bash
# One device call (nvidia-h200): test_embed_cuda, the bench-embed suite (the records
# bench/results/embed{,-cpu}-h200x1.*) with gc_copy_parallel splitting a copy among all its threads,
# then the cases it changes with the build before it (.deps/gpu/ab/before/bench_embed: 4 MiB pieces).
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
timeout 120 "$BIN/test_embed_cuda" >"$R/test_embed_cuda.txt" 2>&1
echo "rc=$?" >>"$R/test_embed_cuda.txt"
DEADLINE_S=250 bash scripts/gpu.sh bench-embed >"$R/suite.log" 2>&1
cp bench/results/embed-h200x1.* bench/results/embed-cpu-h200x1.* "$R/"
OLD=.deps/gpu/ab/before/bench_embed
timeout 80 "$OLD" --repeat 5 --only "new E" >"$R/before-newE.txt" 2>&1
timeout 60 "$OLD" --repeat 5 --only "pageable" >"$R/before-pageable.txt" 2>&1
tar -cf "$OUT/r.tar" -C "$OUT" r
