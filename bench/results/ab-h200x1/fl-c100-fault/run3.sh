#!/usr/bin/env bash
# Diagnosis 3 (nvidia-h200): the fault came back once in six craig C = 100 jobs on 16M rows
# (`refits-and-floors/call1/fault-loop.txt`). Up to 16 more, each with a GPU core dump on a device
# exception; on the first fault, cuda-gdb names the kernel and the faulting instruction.
set -u
BUNDLE=.deps/gpu
BIN=.deps/gpu/bin
source scripts/gpu-libraries.sh && setup_libraries
R=$OUT/r
mkdir -p "$R"
GDB=$(command -v cuda-gdb || ls /usr/local/cuda*/bin/cuda-gdb 2>/dev/null | head -1)
echo "cuda-gdb: ${GDB:-none}" >"$R/loop.txt"
export CUDA_ENABLE_COREDUMP_ON_EXCEPTION=1 CUDA_COREDUMP_FILE=/tmp/gpucore.%p
export CUDA_COREDUMP_GENERATION_FLAGS="skip_nonrelocated_elf_images,skip_global_memory,skip_shared_memory,skip_local_memory"
for rep in $(seq 1 16); do
  timeout 60 mpirun --allow-run-as-root --oversubscribe -np 1 -x CUDA_ENABLE_COREDUMP_ON_EXCEPTION \
    -x CUDA_COREDUMP_FILE -x CUDA_COREDUMP_GENERATION_FLAGS "$BIN/gradcore" select --device cuda \
    --data synthetic:n=16000000,d=128,classes=100,seed=1 --method craig --k 0.1% --out /tmp/f.h5 --quiet \
    >>"$R/loop.txt" 2>&1
  rc=$?
  echo "rep $rep rc=$rc" >>"$R/loop.txt"
  if [ "$rc" != 0 ]; then
    ls -la /tmp/gpucore.* >>"$R/loop.txt" 2>&1
    core=$(ls /tmp/gpucore.* 2>/dev/null | head -1)
    if [ -n "$core" ] && [ -n "$GDB" ]; then
      timeout 120 "$GDB" -batch -ex "target cudacore $core" -ex "info cuda kernels" -ex "info cuda devices" \
        -ex "bt" -ex "x/8i \$pc-64" -ex "info cuda lanes" >"$R/gdb.txt" 2>&1
    fi
    break
  fi
done
tar -cf "$OUT/r.tar" -C "$OUT" r
