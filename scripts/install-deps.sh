#!/usr/bin/env bash
# Installs everything gradcore needs on a fresh Debian 12 machine (as root): compilers, Open MPI,
# parallel HDF5, OpenBLAS/LAPACKE, ScaLAPACK, libpng (eval --plot), clang with its libFuzzer runtime
# (tests/fuzz), and a Python virtual environment (.venv) with the test oracles (numpy, scipy,
# scikit-learn, h5py, apricot, pytest). The CUDA toolkit is optional: when nvcc is on PATH (or in
# /usr/local/cuda/bin) the CUDA backend is built too.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config git
          openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
          libopenblas-dev liblapacke-dev libscalapack-openmpi-dev libpng-dev
          clang libclang-rt-dev
          python3 python3-venv python3-pip)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${GRADCORE_SKIP_PYTHON:-0}" != 1 ]; then
  # Debian's own interpreter, so the environment does not depend on what else is on PATH.
  [ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
fi
