#!/usr/bin/env bash
# Configures and builds gradcore into BUILD_DIR (default build/). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
[ -d /usr/local/cuda/bin ] && export PATH="$PATH:/usr/local/cuda/bin"
python_arg=()
[ -x .venv/bin/python ] && python_arg=(-DPython3_EXECUTABLE="$PWD/.venv/bin/python")
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${python_arg[@]}" "$@" >"$build_dir.cmake.log" 2>&1 ||
  { cat "$build_dir.cmake.log"; exit 1; }
grep "gradcore:" "$build_dir.cmake.log" || true
ninja -C "$build_dir"
