#!/usr/bin/env bash
# Diagnosis 4 (nvidia-h200): craig C = 100 on 16M rows faults about one run in five. Bisection, up to
# eight runs each, stopping at the first fault: every launch blocking (CUDA_LAUNCH_BLOCKING=1: the
# lanes serialised, and a fault named at its kernel's launch), the merge as a tree (no lanes of
# small classes), and the default (the rate, a GPU core dump kept for cuda-gdb elsewhere).
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
job() { # NAME EXTRA-ARGS…
  local name=$1
  shift
  for rep in $(seq 1 8); do
    timeout 60 mpirun --allow-run-as-root --oversubscribe -np 1 "$@" "$BIN/gradcore" select --device cuda \
      --data synthetic:n=16000000,d=128,classes=100,seed=1 --method craig --k 0.1% --out /tmp/f.h5 --quiet \
      ${MERGE:-} >>"$R/$name.txt" 2>&1
    rc=$?
    echo "rep $rep rc=$rc" >>"$R/$name.txt"
    [ "$rc" = 0 ] || break
  done
}
job blocking -x CUDA_LAUNCH_BLOCKING=1
MERGE="--merge tree" job tree
export CUDA_ENABLE_COREDUMP_ON_EXCEPTION=1 CUDA_COREDUMP_FILE=$OUT/gpucore CUDA_COREDUMP_SHOW_PROGRESS=1
export CUDA_COREDUMP_GENERATION_FLAGS="skip_global_memory,skip_shared_memory,skip_local_memory"
job default -x CUDA_ENABLE_COREDUMP_ON_EXCEPTION -x CUDA_COREDUMP_FILE -x CUDA_COREDUMP_SHOW_PROGRESS \
  -x CUDA_COREDUMP_GENERATION_FLAGS
ls -la "$OUT" >>"$R/default.txt"
if [ -s "$OUT/gpucore" ]; then
  timeout 120 /usr/local/cuda/bin/cuda-gdb -batch -ex "target cudacore $OUT/gpucore" -ex "info cuda kernels" \
    -ex "bt" -ex "x/6i \$pc" >"$R/gdb.txt" 2>&1
  rm -f "$OUT/gpucore"
fi
tar -cf "$OUT/r.tar" -C "$OUT" r
