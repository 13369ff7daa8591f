#!/usr/bin/env bash
# The whole job, as a user runs it (issue: time to coreset at scale): every preset on N generated
# rows of width 128, C = 10 and C = 100, one `gradcore select` each with --timings, then a table of
# each phase against its floor (report.py). Presets: craig, gmc, adacore, crest, bico with their
# defaults; k = 0.1% of N (crest sizes itself). Run from the repository root:
#
#   bash bench/e2e/run.sh OUT_DIR [N]       (N default 16000000)
#
# Environment: GRADCORE (binary, default build/gradcore), NP (ranks, default 1), DEVICE (default
# cuda), LIMIT_S (seconds per job, default 120), METHODS, CLASSES (space-separated lists).
set -uo pipefail
out=${1:?usage: bench/e2e/run.sh OUT_DIR [N]}
n=${2:-16000000}
bin=${GRADCORE:-build/gradcore}
np=${NP:-1}
mkdir -p "$out"
for classes in ${CLASSES:-10 100}; do
  for method in ${METHODS:-craig gmc adacore crest bico}; do
    name="$method-c$classes"
    size=(--k 0.1%)
    [ "$method" = crest ] && size=()
    t0=$(date +%s.%N)
    # --bind-to none: Open MPI would pin a rank to one core and squeeze its OpenMP threads onto it
    timeout "${LIMIT_S:-120}" mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$np" "$bin" select \
      --device "${DEVICE:-cuda}" --data "synthetic:n=$n,d=128,classes=$classes,seed=1" --method "$method" \
      "${size[@]}" --timings "$out/$name.json" --out "$out/$name.h5" --quiet >"$out/$name.log" 2>&1
    rc=$?
    # the command's wall clock, mpirun to exit (report.py reads it from the log)
    wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    echo "wall_s: $wall" >>"$out/$name.log"
    echo "$name: rc=$rc wall $wall s"
    rm -f "$out/$name.h5"
  done
done
python3 "$(dirname "$0")/report.py" "$out"/*.json | tee "$out/e2e.md"
