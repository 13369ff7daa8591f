#!/usr/bin/env bash
# Prepares, on this (Debian) build machine, what the remote GPU machine needs to run gradcore's GPU
# tests and the embedding benchmark (scripts/gpu-run.sh runs them there):
#   build-gpu/   binaries built for Hopper (sm_90);
#   .deps/debs/  the shared libraries the binaries need that an Ubuntu 24.04 host with Open MPI 4.1,
#                serial HDF5 and OpenBLAS lacks: the Open MPI flavours of HDF5 and ScaLAPACK,
#                LAPACKE and its test-matrix library, and HDF5's compression libraries;
#   .deps/fallback-debs/  libraries the host is expected to have (OpenBLAS, gfortran, the Open MPI
#                runtime): gpu-run.sh links them in only for libraries the loader cannot find there,
#                so a host library always wins over a bundled one (two Open MPI builds must not mix).
# The .deb files travel compressed (the whole lot is ~17 MB; unpacked OpenBLAS alone is 44 MB) and
# are unpacked with `dpkg -x` on the GPU machine. .deps/ and build-gpu/ are gitignored.
#
# Then, with the device tool: carry build-gpu/gradcore, build-gpu/bench_embed,
# build-gpu/tests/gpu/test_embed_cuda, build-gpu/tests/unit/test_embed_cpu, .deps/debs and
# .deps/fallback-debs, and run `bash scripts/gpu-run.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

primary=(libhdf5-openmpi-103-1 libscalapack-openmpi2.2 liblapacke libtmglib3 libaec0 libsz2)
fallback=(libopenblas0-pthread libgfortran5 libquadmath0 libopenmpi3 openmpi-bin libpmix2 libhwloc15
          libevent-2.1-7 libevent-core-2.1-7 libevent-pthreads-2.1-7 libfabric1 libucx0 libpsm2-2 libibverbs1
          librdmacm1 libnl-3-200 libnl-route-3-200 libnuma1 libpng16-16)

fetch() { # fetch DIR PACKAGE...: the .deb files of exactly these packages (no dependencies)
  local dir=$1
  shift
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$dir" && apt-get download "$@")
}
fetch .deps/debs "${primary[@]}"
fetch .deps/fallback-debs "${fallback[@]}"
# Also unpacked here, as on the GPU machine, so `ldd` can check the bundle before a device call.
rm -rf .deps/usr
for deb in .deps/debs/*.deb; do dpkg -x "$deb" .deps/; done

[ -d /usr/local/cuda/bin ] && export PATH="$PATH:/usr/local/cuda/bin"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRADCORE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  >build-gpu.cmake.log 2>&1 || { cat build-gpu.cmake.log; exit 1; }
targets=(${GPU_TARGETS:-gradcore bench_embed bench_fl test_embed_cuda test_embed_cpu test_fl_cuda})
ninja -C build-gpu "${targets[@]}"

echo "libraries the binaries need beyond glibc, CUDA and the bundle (the GPU host must have these):"
LD_LIBRARY_PATH="$PWD/.deps/usr/lib/x86_64-linux-gnu" ldd build-gpu/gradcore build-gpu/bench_embed |
  awk '/=>/ && $3 !~ /\.deps|libc\.so|libm\.so|libdl|libpthread|librt|ld-linux|libcu/ {print "  " $1}' | sort -u
du -shc .deps/debs .deps/fallback-debs $(for t in "${targets[@]}"; do find build-gpu -maxdepth 3 -type f -name "$t"; done) \
  | tail -1 | sed 's/total/to carry (limit 64 MiB with the working tree)/'
