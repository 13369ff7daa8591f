#!/usr/bin/env bash
set -u
eval "$(sed -n '/^missing_libraries()/,/^}/p;/^setup_libraries()/,/^}/p' scripts/gpu.sh)"
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; setup_libraries
timeout 60 ncu --clock-control none --metrics gpu__time_duration.sum -c 70 .deps/gpu/bin/bench_fl partitions 8 4096 100 9 8 > $OUT/ncu-final.txt 2>&1
echo "ncu rc=$?"
DEADLINE_S=470 E2E_METHODS="craig adacore" bash scripts/gpu.sh tests e2e
