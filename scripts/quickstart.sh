#!/usr/bin/env bash
# README command (a): install dependencies, build, generate the built-in example dataset and run
# the main job on 2 ranks (CPU when there is no GPU), writing coreset.h5.
set -euo pipefail
cd "$(dirname "$0")/.."
GRADCORE_SKIP_PYTHON=1 bash scripts/install-deps.sh
BUILD_DIR=build bash scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p example
build/gradcore gen --config jobs/example-data.ini
mpirun -q -np 2 build/gradcore select --config jobs/example.ini
build/gradcore info coreset.h5 --rows 5
