#!/usr/bin/env bash
# The Python package as a user gets it: a fresh virtual environment (build-python/venv, or
# $GRADCORE_PY_VENV), `pip install ".[torch,mpi,test]"` from this checkout (scikit-build-core builds
# libgradcore with CMake against the system libraries of scripts/install-deps.sh), then
#   - tests/python: gradcore.select against the CLI (plain process and mpi4py at 2 and 3 ranks),
#     gradcore.torch against autograd;
#   - tests/reference/test_embeddings_torch.py: the C embedding engine against PyTorch's autograd.
# Both need PyTorch, and the import check below fails the run rather than letting them skip.
#
# PyTorch comes from PyPI, the one Python registry CI reaches. PyPI has no CPU-only build for x86_64
# Linux: `torch` there is the CUDA build, and its CUDA libraries (cuda-toolkit, cuDNN, NCCL, …) are
# dependencies it cannot import without even on a CPU (installed without them, `import torch` fails on
# libcufile.so.0). So the whole wheel is installed and runs on the CPU: about 3 GB downloaded, 5.3 GB
# installed, 95 s on a CI machine (measured with torch 2.15.0; later runs reuse pip's cache).
# Needs build/gradcore (scripts/build.sh) for the comparisons with the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d /usr/local/cuda/bin ] && export PATH="$PATH:/usr/local/cuda/bin"
venv=$(realpath -m "${GRADCORE_PY_VENV:-build-python/venv}")
rm -rf "$venv"
/usr/bin/python3 -m venv "$venv"
# CPU-only library here: the package's tests run on the CPU, and the CUDA backend was built and
# tested by the release suite already (a user's `pip install .` builds it when nvcc is there).
"$venv/bin/python" -m pip install -q --disable-pip-version-check --config-settings=cmake.define.GRADCORE_CUDA=OFF \
  ".[torch,mpi,test]"
(cd / && "$venv/bin/python" -c "import torch, mpi4py, gradcore; print('test-python: gradcore from', gradcore.__file__)")
export GRADCORE_BIN=${GRADCORE_BIN:-$PWD/build/gradcore}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python tests/reference/test_embeddings_torch.py
