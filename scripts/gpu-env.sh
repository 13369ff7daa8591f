# Sourced ON the GPU machine from the repository root: makes the binaries in "${bins[@]}" find
# their libraries. Unpacks the bundle of scripts/gpu-bundle.sh (.deps/debs), adds CUDA's runtime and
# cuBLAS (the toolkit's, else PyTorch's wheels'), links fallback libraries only for what the host
# lacks (a host library always wins: two Open MPI builds must not mix), and exports the MPI-as-root
# variables, `mpirun` (an array; empty where the host has no mpirun) and `step` for the caller.
for deb in .deps/debs/*.deb; do dpkg -x "$deb" .deps/; done
export LD_LIBRARY_PATH=$PWD/.deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# cudart and cuBLAS: the machine's CUDA toolkit, else the ones PyTorch's wheels carry.
py_nvidia=$(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, d) for p in nvidia.__path__ for d in os.listdir(p)))' 2>/dev/null)
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13; do
  for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $(for d in $py_nvidia; do echo "$d/lib"; done); do
    if [ -e "$dir/$lib" ]; then
      case ":$LD_LIBRARY_PATH:" in *":$dir:"*) ;; *) LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$dir ;; esac
      break
    fi
  done
done
missing() { ldd "${bins[@]}" 2>/dev/null | awk '/not found/ {print $1}' | sort -u; }
# Fallback libraries only for what the host lacks: a host library always wins over a bundled one.
if [ -n "$(missing)" ]; then
  mkdir -p .deps/fallback/lib
  for deb in .deps/fallback-debs/*.deb; do dpkg -x "$deb" .deps/fallback/; done
  export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$PWD/.deps/fallback/lib
  for pass in 1 2 3; do # a bundled library may itself need another one
    for lib in $(missing); do
      src=$(find .deps/fallback/usr -name "$lib" -print -quit)
      [ -n "$src" ] && ln -sf "$PWD/$src" ".deps/fallback/lib/$lib"
    done
  done
fi
export LD_LIBRARY_PATH OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
mpirun=(mpirun --allow-run-as-root --oversubscribe -q)
command -v mpirun >/dev/null || mpirun=() # single-rank runs then start gradcore directly


# step NAME LIMIT_S COMMAND...: one step under its own time limit, cut short so that the whole script
# ends by DEADLINE_S seconds after sourcing (one device call holds it). Each step's exit code and
# seconds go to stdout and to $OUT/steps.log, so what finished comes back even if a later step hangs.
gpu_deadline=$((SECONDS + ${DEADLINE_S:-100000}))
step() {
  local name=$1 limit=$2 t0=$SECONDS
  shift 2
  (( limit > gpu_deadline - SECONDS )) && limit=$((gpu_deadline - SECONDS))
  if (( limit < 5 )); then
    echo "=== $name: skipped, no time left" | tee -a "${OUT:-/tmp}/steps.log"
    return
  fi
  timeout "$limit" "$@"
  echo "=== $name: rc=$? in $((SECONDS - t0)) s" | tee -a "${OUT:-/tmp}/steps.log"
}
