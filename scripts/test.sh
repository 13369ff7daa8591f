#!/usr/bin/env bash
# README command (b): install dependencies, build, and run the whole test suite:
#   1. release build (CUDA backend too when nvcc exists): unit, MPI (-np 1, 2, 4), bad-input matrix,
#      reference oracles, GPU tests (skipped without a GPU);
#   2. ASan + UBSan build (CPU only): the unit tests again, and the fault-injection test's leak sample
#      (built first, so the release suite's fault test can run it: GRADCORE_FAULT_ASAN);
#   3. libFuzzer targets (job files, dataset metadata, model files), 30 s each (tests/fuzz/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

BUILD_DIR=build bash scripts/build.sh
BUILD_DIR=build-asan bash scripts/build.sh -DGRADCORE_SANITIZE=ON -DGRADCORE_CUDA=OFF -DCMAKE_BUILD_TYPE=Debug
export GRADCORE_FAULT_ASAN=$PWD/build-asan/gradcore
(cd build && ctest --output-on-failure -j 2)

(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -L unit)
bash tests/fuzz/run.sh
