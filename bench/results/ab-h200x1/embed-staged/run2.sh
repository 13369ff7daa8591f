#!/usr/bin/env bash
# The record (one device call, nvidia-h200), with gc_copy_parallel as it was (its split among all
# threads dropped: no gain measured) and bench_embed's ceilings measured within E's array too:
# test_embed_cuda, then the bench-embed suite (bench/results/embed{,-cpu}-h200x1.*).
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
timeout 60 "$BIN/tests/gpu/test_embed_cuda" >"$R/test_embed_cuda.txt" 2>&1
echo "rc=$?" >>"$R/test_embed_cuda.txt"
DEADLINE_S=150 bash scripts/gpu.sh bench-embed >"$R/suite.log" 2>&1
tar -cf "$OUT/r.tar" -C "$OUT" r
