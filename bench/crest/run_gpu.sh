#!/usr/bin/env bash
# CREST at P = 1000 subsets of r = 5000 rows, m = 128, on every GPU of this node (one rank per GPU,
# the facility-location greedy of each subset on the rank's GPU), then the same on one GPU: the
# record goes to bench/results/crest-gpu.txt next to the CPU record (crest-cpu.txt).
# Run from the repository root on a GPU node: bench/crest/run_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x build/gradcore ]; then
    cmake -S . -B build -G Ninja -DCMAKE_CUDA_ARCHITECTURES=90 && ninja -C build
fi
gpus=$(nvidia-smi -L | wc -l)
NP=$gpus THREADS=4 DEVICE=cuda bench/crest/bench_crest.sh bench/results/crest-gpu.txt
if [ "$gpus" -gt 1 ]; then
    NP=1 THREADS=4 DEVICE=cuda bench/crest/bench_crest.sh bench/results/crest-gpu.txt
fi
