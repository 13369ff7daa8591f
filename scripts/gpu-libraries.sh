#!/usr/bin/env bash
# Sourced on a GPU host, from the repository root, by scripts/gpu.sh and by one-off device scripts
# (the commands recorded under bench/results/ab-*/…/run.sh):
#   source scripts/gpu-libraries.sh && setup_libraries
# BUNDLE (default .deps/gpu, the carried bundle) and BIN (default $BUNDLE/bin, the binaries whose
# libraries are checked) may be set first.
: "${BUNDLE:=.deps/gpu}"
: "${BIN:=$BUNDLE/bin}"

# Makes the binaries find their libraries: unpacks the bundle, adds CUDA's runtime and cuBLAS (the
# toolkit's, else PyTorch's wheels'), links fallback libraries only for what the host lacks.
setup_libraries() {
  local deb lib dir src py_nvidia
  mkdir -p .deps/host
  for deb in "$BUNDLE"/debs/*.deb; do [ -e "$deb" ] && dpkg -x "$deb" .deps/host/; done
  LD_LIBRARY_PATH=$PWD/.deps/host/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  py_nvidia=$(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, d) for p in nvidia.__path__ for d in os.listdir(p)))' 2>/dev/null)
  for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13; do
    for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $(for d in $py_nvidia; do echo "$d/lib"; done); do
      if [ -e "$dir/$lib" ]; then
        case ":$LD_LIBRARY_PATH:" in *":$dir:"*) ;; *) LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$dir ;; esac
        break
      fi
    done
  done
  export LD_LIBRARY_PATH
  if [ -n "$(missing_libraries)" ]; then
    mkdir -p .deps/host/fallback/lib
    for deb in "$BUNDLE"/fallback-debs/*.deb; do [ -e "$deb" ] && dpkg -x "$deb" .deps/host/fallback/; done
    export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$PWD/.deps/host/fallback/lib
    for _ in 1 2 3; do # a bundled library may itself need another one
      for lib in $(missing_libraries); do
        src=$(find .deps/host/fallback/usr -name "$lib" -print -quit 2>/dev/null)
        [ -n "$src" ] && ln -sf "$PWD/$src" ".deps/host/fallback/lib/$lib"
      done
    done
  fi
}
missing_libraries() {
  find "$BIN" -type f -perm -u+x -print0 2>/dev/null | xargs -0 -r ldd 2>/dev/null | awk '/not found/ {print $1}' | sort -u
}
