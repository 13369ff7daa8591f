#!/usr/bin/env bash
# The whole job from each place a user's rows come from, the same E each way: computed by gradcore
# on the GPU (`--embedding features` of generated rows), the same rows as a dataset file (`--data
# X.h5`, written by `gradcore gen`), read from an embeddings file (`--embeddings E.h5`, what
# `gradcore.torch.embeddings(out=…)` and `--save-embeddings` write), and handed over by a Python
# process (`gradcore.select` on the file's arrays, loaded by h5py, and on a GPU also on those rows as
# CUDA tensors). E is the features embedding of N generated rows of width 128, so the coresets must
# all be equal; each job's wall time is what its user waits for. Run from the repository root:
#
#   bash bench/e2e/inputs.sh OUT_DIR [N]       (N default 16000000)
#
# Environment: GRADCORE (binary, default build/gradcore), GRADCORE_LIBRARY (libgradcore.so for the
# Python jobs, default build/libgradcore.so), DEVICE (default cuda), LIMIT_S (seconds a job, default
# 120), METHODS (default "craig gmc"), CLASSES (default "10 100").
set -uo pipefail
out=${1:?usage: bench/e2e/inputs.sh OUT_DIR [N]}
n=${2:-16000000}
bin=${GRADCORE:-build/gradcore}
export GRADCORE_LIBRARY=${GRADCORE_LIBRARY:-build/libgradcore.so}
device=${DEVICE:-cuda}
here=$(dirname "$0")
mkdir -p "$out"
now() { date +%s.%N; }
# job NAME COMMAND…: COMMAND under the limit, its output in NAME.log, its exit code and wall seconds.
job() {
  local name=$1 t0 rc
  shift
  t0=$(now)
  timeout "${LIMIT_S:-120}" "$@" >"$out/$name.log" 2>&1
  rc=$?
  awk -v n="$name" -v rc="$rc" -v t0="$t0" -v t1="$(now)" 'BEGIN { printf "%s: rc=%d wall %.2f s\n", n, rc, t1 - t0 }'
}
# --bind-to none: Open MPI would pin a rank to one core and squeeze its OpenMP threads onto it
cli=(mpirun --allow-run-as-root --oversubscribe --bind-to none -np 1 "$bin" select --device "$device" --quiet)
for classes in ${CLASSES:-10 100}; do
  data="synthetic:n=$n,d=128,classes=$classes,seed=1"
  e=$out/e-c$classes.h5
  x=$out/x-c$classes.h5
  job "write-embeddings-c$classes" "${cli[@]}" --data "$data" --embedding features --selector omp --k 1 \
    --save-embeddings "$e" --out "$out/saved.h5"
  rm -f "$out/saved.h5"
  job "write-dataset-c$classes" "$bin" gen --out "$x" --n "$n" --d 128 --classes "$classes" --seed 1 --quiet
  for method in ${METHODS:-craig gmc}; do
    base=$out/$method-c$classes
    job "$method-c$classes-generated" "${cli[@]}" --data "$data" --embedding features --method "$method" --k 0.1% \
      --timings "$base-generated.json" --out "$base-generated.h5"
    job "$method-c$classes-dataset" "${cli[@]}" --data "$x" --embedding features --method "$method" --k 0.1% \
      --timings "$base-dataset.json" --out "$base-dataset.h5"
    job "$method-c$classes-file" "${cli[@]}" --data "$data" --embeddings "$e" --method "$method" --k 0.1% \
      --timings "$base-file.json" --out "$base-file.h5"
    job "$method-c$classes-python" python3 "$here/select_python.py" "$e" --method "$method" --k 0.1% \
      --device "$device" --timings "$base-python.json" --compare "$base-file.h5"
    cat "$base-python.log"
    if [ "$device" = cuda ]; then
      job "$method-c$classes-tensor" python3 "$here/select_python.py" "$e" --method "$method" --k 0.1% \
        --device cuda --tensor --timings "$base-tensor.json" --compare "$base-file.h5"
      cat "$base-tensor.log"
    fi
    for input in generated dataset; do
      python3 -c '
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r")["coreset"] for p in sys.argv[1:3])
verdict = "equal to" if all(np.array_equal(a[d][()], b[d][()]) for d in ("index", "weight")) else "DIFFER from"
print(f"{sys.argv[2]}: index and weight {verdict} {sys.argv[1]}")' \
        "$base-file.h5" "$base-$input.h5"
    done
    rm -f "$base-generated.h5" "$base-dataset.h5" "$base-file.h5"
  done
  rm -f "$e" "$x"
done
