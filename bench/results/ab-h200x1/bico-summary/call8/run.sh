#!/bin/bash
# Device call 8 (2026-11-29): where BiCo's data summary (1.7 s at 16M rows) and feature map (1.4–1.7 s)
# go: ncu of their kernels at 262,144 rows (256 blocks of 1,024), q = 134 landmarks as at 16M rows.
set -u
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r; mkdir -p $R
trap 'tar -cf $OUT/r.tar -C $R .' EXIT
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,launch__grid_size,launch__block_size
run() { # name, ncu options…
  local name=$1; shift
  timeout 100 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw "$@" \
    $BIN/gradcore select --device cuda --data synthetic:n=262144,d=128,classes=10,seed=1 --method bico --k 0.1% \
    --landmarks 134 --out /tmp/p-$name.h5 --timings $R/timings-$name.json --quiet > $R/ncu-$name.csv 2> $R/ncu-$name.err
}
timeout 60 $BIN/gradcore select --device cuda --data synthetic:n=262144,d=128,classes=10,seed=1 --method bico --k 0.1% \
  --landmarks 134 --out /tmp/plain.h5 --timings $R/timings-plain.json --quiet > $R/plain.log 2>&1
run summary-small -k 'regex:weigh_rows|class_weights|accumulate_summary' -c 15
run features-small -k 'regex:rbf_rows|widen' -c 6
run gemm-features -k 'regex:gemm|syrk|Gemm|Syrk' -c 8
run gemm-summary -k 'regex:gemm|syrk|Gemm|Syrk' --launch-skip 512 -c 16
