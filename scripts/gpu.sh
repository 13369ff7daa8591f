#!/usr/bin/env bash
# gradcore's one GPU script (docs/design.md §11).
#
#   bash scripts/gpu.sh bundle SUITE…        on the (Debian) build machine: build what the suites need
#                                           for Hopper into build-gpu/ and pack it with the libraries a
#                                           GPU host may lack into .deps/gpu/ (gitignored)
#   bash scripts/gpu.sh [options] SUITE…     ON the GPU host, from the repository root, with .deps/gpu
#                                           carried along (the device tool's one command)
#
# Suites (each once; `--list` prints this table):
#   tests        every CUDA test in tests/gpu (CUDA against the CPU twins) and the PyTorch embedding
#                oracle test on the CUDA and the CPU backend                    → tests-SLUG.txt
#   bench-embed  bench_embed on the GPU, and on the host's CPU (200,000 rows)    → embed-SLUG.{txt,json},
#                                                                                  embed-cpu-SLUG.{txt,json}
#   bench-fl     bench_fl next to the plain PyTorch dense greedy on the same rows; the pass over all rows
#                (bench_fl assign: 10M × 10, 4M × 128 and 2M × 100 rows, E on the device and
#                pageable, each path); 200k points in 8
#                partitions against one; stochastic greedy on 10M points over every GPU and its
#                objective ratio to exact greedy on 1M                          → fl-SLUG.jsonl,
#                                                        fl-200k-ratio-SLUG.txt, fl-stochastic-10M-SLUG.txt
#   bench-omp    bench_omp (one atom a pass, and --batch 8) next to the plain PyTorch OMP on the same
#                GPU, and bench_omp on the host's CPU; then per class (C = 10, 1000)
#                                                                              → omp-SLUG.jsonl, omp-cpu-SLUG.jsonl
#   bench-bico   bench_bico case by case; a 1-rank `select --method bico` on 1M rows with timings and
#                the coresets of 1, 2 and 4 ranks compared bit for bit          → bico-SLUG.jsonl, bico-select-SLUG.txt
#   bench-crest  CREST, P = 1000 subsets of 5000 rows, m = 128, on every GPU (and on one)  → crest-SLUG.txt
#   bench-startup  a rank's GPU start-up step by step (bench_startup) at 1, 2, 4 … ranks, one a GPU,
#                all GPUs visible and each rank's alone, twice each              → startup-SLUG.jsonl
#   select       whole jobs with --timings: 2 ranks, lastlayer sketch 256, on the GPU and on the CPU;
#                `--selector omp` on 4M rows on one GPU                         → select-SLUG.txt
#   scaling      strong (N = 16M) and weak (1M and 16M rows a rank) sweeps of OMP (features, D = 128)
#                and facility location (craig, C = 100) at 1, 2, 4 … ranks, one a GPU (slurm/scaling.sh
#                --local, slurm/report; SCALING_SWEEPS picks some)           → scaling-SLUG.md,
#                                      scaling-{omp,fl}-{strong,weak-1M,weak-16M}-SLUG.{csv,png}, …/*.json
#   omp50k       OMP with k = 50,000 through the ScaLAPACK refit, 4 ranks per GPU → omp-k50000-scalapack-SLUG.txt
#   e2e          the whole job of every preset (craig gmc adacore crest bico) on 16M generated rows,
#                d = 128, C = 10 and 100, on one GPU, each phase against its floor (bench/e2e)
#                                                  → e2e-SLUG.md, e2e-SLUG/*.json (each run's --timings)
#   inputs       the whole job from each place embeddings come from, the same E each way: made on the
#                GPU (--embedding features), an embeddings file (--embeddings), a Python process's arrays
#                (gradcore.select); craig and gmc, 16M rows, D = 128, C = 10 and 100 (bench/e2e/inputs.sh)
#                                            → e2e-inputs-SLUG.md, e2e-inputs-SLUG/*.{json,log}
#   billion      the 1-billion-row study on every GPU, one rank a GPU: OMP (features, D = 128, C = 10,
#                k = 10,000, --precision BILLION_OMP_PRECISION, default bf16) and craig (C = 100,
#                k = 0.1%, --precision BILLION_FL_PRECISION, default bf16) on generated rows,
#                N = BILLION_N_OMP / BILLION_N_FL (default 1e9; smaller where 1e9 cannot fit; 0 skips
#                that one)                                          → 1b-omp-nN-PRECISION-SLUG.{json,txt},
#                                                                    1b-craig-nN-PRECISION-SLUG.{json,txt}
#   stream       `select` on a 1M × 512 HDF5 file: X read while it is embedded, against reading X
#                alone                                                          → embed-stream-SLUG.txt
#   ab           whole jobs under several builds, interleaved: AB_JOBS (method:classes …, default
#                "craig:100"; 16M generated rows, d = 128, k = 0.1%, one GPU) AB_REPS times (default
#                2) with every build in turn — the bundle's ("head") and each one `bundle` made of
#                GPU_AB_REVS — each with --timings; a table of the phases and whether every dataset of
#                every coreset is bitwise the first build's; AB_ARGS adds options to every job
#                (e.g. "--precision bf16")                      → ab-jobs-SLUG.md, ab-jobs-SLUG/*.json
#
# SLUG names the device the run had, from nvidia-smi: model and GPU count (h100x1, h200x2; override
# with GPU_SLUG). Results go to bench/results/ (a suite replaces its own files of that SLUG; CREST
# appends a record). The run's own logs (steps.log: each step's exit code and seconds; run.log: what
# the steps printed) go to $OUT/logs, or bench/logs/run-SLUG-DATE/ without $OUT; never among the
# results. With $OUT set (the device tool), the result files this run wrote are also packed into
# $OUT/results-SLUG.tar; unpack it here with `tar -xf …/results-SLUG.tar -C bench/results`.
# Everything is deadline-bound: each step has its own limit, each suite a budget, and the whole
# run ends by DEADLINE_S (default 570) seconds, so one device call holds it.
#
# Options: --dry-run (print what each suite would run, run nothing; works without a GPU), --list.
# Environment: OUT, DEADLINE_S, GPU_SLUG, GPU_BIN (binaries; default .deps/gpu/bin, else build-gpu),
# GPU_TARGETS (bundle: build these targets instead of the suites'), GPU_JOBS (bundle: ninja -j),
# GPU_AB_REVS (bundle: also gradcore at each of these revisions, for the ab suite), AB_JOBS, AB_REPS,
# AB_ARGS.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

SUITES=(tests bench-embed bench-fl bench-omp bench-bico bench-crest bench-startup select scaling omp50k e2e inputs billion stream ab)
BUNDLE=.deps/gpu

usage() {
  sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"
  exit "${1:-0}"
}
die() {
  echo "gpu.sh: $*" >&2
  exit 2
}

# ---------------------------------------------------------------------------------------------
# bundle (build machine)

# Targets a suite needs (tests: every CUDA test in tests/gpu, so a new one needs no edit here).
suite_targets() {
  case $1 in
  tests) echo gradcore gradcore_shared; for t in tests/gpu/test_*.c; do basename "$t" .c; done ;;
  bench-embed) echo bench_embed ;;
  bench-fl) echo gradcore bench_fl ;;
  bench-omp) echo gradcore bench_omp ;;
  bench-bico) echo gradcore bench_bico ;;
  bench-startup) echo bench_startup ;;
  inputs) echo gradcore gradcore_shared ;;
  *) echo gradcore ;;
  esac
}

# Libraries the binaries need that an Ubuntu 24.04 GPU host with Open MPI 4.1, serial HDF5 and
# OpenBLAS lacks (primary: always unpacked there), and ones it is expected to have (fallback:
# linked there only for a library the loader cannot find, so a host library always wins: two Open
# MPI builds must not mix). They travel as .deb files (~17 MB) and are unpacked with dpkg -x.
PRIMARY_DEBS=(libhdf5-openmpi-103-1 libscalapack-openmpi2.2 liblapacke libtmglib3 libaec0 libsz2)
FALLBACK_DEBS=(libopenblas0-pthread libgfortran5 libquadmath0 libopenmpi3 openmpi-bin libpmix2 libhwloc15
  libevent-2.1-7 libevent-core-2.1-7 libevent-pthreads-2.1-7 libfabric1 libucx0 libpsm2-2 libibverbs1
  librdmacm1 libnl-3-200 libnl-route-3-200 libnuma1 libpng16-16)

bundle() {
  local targets=() s t
  if [ -n "${GPU_TARGETS:-}" ]; then
    read -r -a targets <<<"$GPU_TARGETS"
  else
    for s in "$@"; do
      for t in $(suite_targets "$s"); do [[ " ${targets[*]} " == *" $t "* ]] || targets+=("$t"); done
    done
  fi
  if [ "$DRY_RUN" = 1 ]; then
    echo "[dry-run] bundle: apt-get download ${PRIMARY_DEBS[*]} → $BUNDLE/debs"
    echo "[dry-run] bundle: apt-get download ${FALLBACK_DEBS[*]} → $BUNDLE/fallback-debs"
    echo "[dry-run] bundle: cmake -S . -B build-gpu -DGRADCORE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90; ninja -C build-gpu ${targets[*]}"
    [ -z "${GPU_AB_REVS:-}" ] ||
      echo "[dry-run] bundle: gradcore at each of $GPU_AB_REVS, worktrees in build-gpu-ab/ → $BUNDLE/ab/REV/gradcore"
    echo "[dry-run] bundle: copy them to $BUNDLE/bin; carry $BUNDLE and run: bash scripts/gpu.sh $*"
    return 0
  fi
  set -e
  local dir
  for dir in debs fallback-debs; do rm -rf "${BUNDLE:?}/$dir" && mkdir -p "$BUNDLE/$dir"; done
  (cd "$BUNDLE/debs" && apt-get download "${PRIMARY_DEBS[@]}")
  (cd "$BUNDLE/fallback-debs" && apt-get download "${FALLBACK_DEBS[@]}")
  # Unpacked here too (outside what travels), so ldd can check the bundle before a device call.
  rm -rf .deps/usr
  for deb in "$BUNDLE"/debs/*.deb; do dpkg -x "$deb" .deps/; done
  [ -d /usr/local/cuda/bin ] && export PATH="$PATH:/usr/local/cuda/bin"
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRADCORE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    >build-gpu.cmake.log 2>&1 || { cat build-gpu.cmake.log; exit 1; }
  ninja -C build-gpu ${GPU_JOBS:+-j "$GPU_JOBS"} "${targets[@]}"
  rm -rf "${BUNDLE:?}/bin"
  for t in "${targets[@]}"; do
    local path file=$t
    [ "$t" = gradcore_shared ] && file=libgradcore.so # the Python package's library
    path=$(cd build-gpu && find . -maxdepth 3 -type f -name "$file" -perm -u+x -print -quit)
    [ -n "$path" ] || die "bundle: target $t was not built"
    mkdir -p "$BUNDLE/bin/$(dirname "$path")"
    cp "build-gpu/$path" "$BUNDLE/bin/$path"
  done
  bundle_revisions
  echo "libraries the binaries need beyond glibc, CUDA and the bundle (the GPU host must have these):"
  find "$BUNDLE/bin" -type f -print0 | LD_LIBRARY_PATH="$PWD/.deps/usr/lib/x86_64-linux-gnu" xargs -0 ldd |
    awk '/=>/ && $3 !~ /\.deps|libc\.so|libm\.so|libdl|libpthread|librt|ld-linux|libcu/ {print "  " $1}' | sort -u
  echo "carry: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1); the working tree and carried paths travel within 64 MiB)"
  echo "then, on the GPU host: bash scripts/gpu.sh $*"
}

# gradcore at each revision of GPU_AB_REVS (anything git names: a commit, a branch, HEAD~1), built in
# a worktree of its own (build-gpu-ab/HASH) with the bundle's configuration, into
# $BUNDLE/ab/HASH/gradcore (HASH: the commit's short hash): the other builds of the ab suite.
bundle_revisions() {
  local rev dir
  rm -rf "${BUNDLE:?}/ab"
  for rev in ${GPU_AB_REVS:-}; do
    rev=$(git rev-parse --short=7 "$rev") || exit 1
    dir=build-gpu-ab/$rev
    [ -d "$dir/src" ] || git worktree add -f --detach "$dir/src" "$rev" >/dev/null
    git -C "$dir/src" checkout -q --detach "$rev"
    cmake -S "$dir/src" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRADCORE_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90 >"$dir/cmake.log" 2>&1 || { cat "$dir/cmake.log"; exit 1; }
    ninja -C "$dir/build" ${GPU_JOBS:+-j "$GPU_JOBS"} gradcore
    mkdir -p "$BUNDLE/ab/$rev"
    cp "$dir/build/gradcore" "$BUNDLE/ab/$rev/gradcore"
  done
}

# ---------------------------------------------------------------------------------------------
# the run (GPU host)

# SLUG: the first token of the GPU's name that holds a digit (H100, H200, A100, 4090), lower case,
# and the number of GPUs: "NVIDIA H100 80GB HBM3" × 2 → h100x2.
device_slug() {
  if [ -n "${GPU_SLUG:-}" ]; then
    echo "$GPU_SLUG"
    return
  fi
  local names model
  names=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | sed '/^$/d')
  if [ -z "$names" ]; then
    echo nogpu
    return
  fi
  model=$(head -1 <<<"$names" | tr '[:upper:]' '[:lower:]' | tr -s ' ' '\n' | grep -m1 '[0-9]' | cut -d- -f1 | tr -cd 'a-z0-9')
  echo "${model:-gpu}x$(wc -l <<<"$names")"
}

# setup_libraries and missing_libraries (scripts/gpu-libraries.sh, also for one-off device scripts).
# shellcheck source=scripts/gpu-libraries.sh
source "$(dirname "${BASH_SOURCE[0]}")/gpu-libraries.sh"

# with_np RANKS THREADS COMMAND…: COMMAND on RANKS MPI ranks of THREADS OpenMP threads each,
# unbound (a bound rank would squeeze its threads onto one core); one rank runs directly where
# the host has no mpirun.
with_np() {
  local ranks=$1 threads=$2
  shift 2
  ((threads >= 1)) || threads=1
  if command -v mpirun >/dev/null; then
    OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads exec mpirun --allow-run-as-root --oversubscribe -q \
      --bind-to none -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS -np "$ranks" "$@"
  elif [ "$ranks" = 1 ]; then
    OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads exec "$@"
  fi
  echo "with_np: no mpirun on this host for $ranks ranks" >&2
  return 127
}
# py SNIPPET ARGS…: one of the small Python checks below, by name.
py() {
  local name=$1
  shift
  python3 -c "${!name}" "$@"
}
export -f with_np py

# step [-o FILE | -a FILE] NAME LIMIT_S COMMAND…: runs COMMAND (a program or an exported function)
# under the smaller of LIMIT_S, the suite's budget and the run's deadline. -o appends its stdout to
# FILE (a result), stderr to run.log; -a appends both to FILE; else both go to run.log. The exit code
# and seconds go to steps.log and stdout, so what finished is known even if a later step hangs.
step() {
  local to="" mode=""
  if [ "$1" = -o ] || [ "$1" = -a ]; then
    mode=$1 to=$2
    shift 2
  fi
  local name="$SUITE/$1" limit=$2 t0=$SECONDS rc
  shift 2
  local left=$((suite_deadline - SECONDS))
  ((limit > left)) && limit=$left
  if [ "$DRY_RUN" = 1 ]; then
    printf '  %-34s %4d s  ' "$name" "$limit"
    printf '%q ' "$@"
    [ -n "$to" ] && printf '%s %s' "$([ "$mode" = -o ] && echo '>>' || echo '&>>')" "$to"
    echo
    return 0
  fi
  if ((limit < 5)); then
    echo "=== $name: skipped, no time left" | tee -a "$LOGS/steps.log"
    return 0
  fi
  echo "### $name: $*" >>"$LOGS/run.log"
  case $mode in
  -o) timeout "$limit" bash -c '"$@"' "$name" "$@" >>"$to" 2>>"$LOGS/run.log" ;;
  -a)
    echo "### $name" >>"$to"
    timeout "$limit" bash -c '"$@"' "$name" "$@" >>"$to" 2>&1
    ;;
  *) timeout "$limit" bash -c '"$@"' "$name" "$@" >>"$LOGS/run.log" 2>&1 ;;
  esac
  rc=$?
  [ "$mode" = -a ] && echo "### $name: rc=$rc" >>"$to"
  local why=""
  case $rc in
  124) why=" (cut at its limit, $limit s)" ;;
  77) why=" (skipped: no usable GPU)" ;;
  esac
  echo "=== $name: rc=$rc in $((SECONDS - t0)) s$why" | tee -a "$LOGS/steps.log"
}

# result NAME EXT: the result file of this device.
result() { echo "bench/results/$1-$SLUG.$2"; }
# fresh FILE…: a suite's own files start empty (not in a dry run).
fresh() { [ "$DRY_RUN" = 1 ] || : | tee "$@" >/dev/null; }
# note FILE TEXT…: a line into a result file.
note() { [ "$DRY_RUN" = 1 ] || echo "${*:2}" >>"$1"; }

# The small Python checks (run through `py NAME`; exported for the steps' shells).
export FL_200K_RATIO FL_STOCHASTIC SAME_CORESETS
FL_200K_RATIO='
import json, sys, h5py
one, eight = (h5py.File(f"{sys.argv[1]}/fl-200k-{p}.h5").attrs["objective"] for p in (1, 8))
t = {p: {ph["name"]: ph["max_s"] for ph in json.load(open(f"{sys.argv[1]}/fl-200k-{p}.json"))["phases"]} for p in (1, 8)}
sel = "select"  # no backslash inside an f-string expression (Python < 3.12)
print(f"200k points, k = 200: F(8 partitions) / F(1 partition) = {eight / one:.5f}  "
      f"(select {t[8][sel]:.2f} s vs {t[1][sel]:.2f} s)")
for p in (1, 8):
    print(f"{p} partition(s): " + json.dumps(json.load(open(f"{sys.argv[1]}/fl-200k-{p}.json"))))
'
FL_STOCHASTIC='
import json, sys, h5py
w, gpus = sys.argv[1], sys.argv[2]
t = {p["name"]: p["max_s"] for p in json.load(open(f"{w}/stochastic-10M.json"))["phases"]}
print(f"stochastic greedy (eps = 0.1), 10M points, d = 32, 10 classes, k = 10000, {gpus} rank(s), one a GPU: "
      + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
f = {x: h5py.File(f"{w}/{x}-1M.h5").attrs["objective"] for x in ("exact", "stochastic")}
ratio = f["stochastic"] / f["exact"]
print(f"1M-point subsample, k = 1000: F(stochastic) / F(exact) = {ratio:.5f}")
'
SAME_CORESETS='
import sys, h5py, numpy as np
label, files = sys.argv[1], sys.argv[2:]
first = h5py.File(files[0], "r")["coreset"]
for name in files[1:]:
    other = h5py.File(name, "r")["coreset"]
    differ = [d for d in first if d not in other or not np.array_equal(first[d][()], other[d][()])]
    verdict = "DIFFERS (" + ", ".join(differ) + ") from" if differ else "bitwise equal to"
    print(f"{label}: {name} {verdict} {files[0]}")
'

# --- the suites ------------------------------------------------------------------------------

suite_tests() {
  local out t
  out=$(result tests txt)
  fresh "$out"
  for t in "$BIN"/tests/gpu/test_*; do
    [ -x "$t" ] || [ "$DRY_RUN" = 1 ] || continue
    step -a "$out" "$(basename "$t")" 120 "$t"
  done
  step -a "$out" pytest-select-cuda 330 env GRADCORE_BIN="$BIN/gradcore" GRADCORE_DEVICE=cuda \
    GRADCORE_LIBRARY="$BIN/libgradcore.so" \
    python3 -m pytest -q -p no:cacheprovider tests/gpu/test_select_cuda.py
  for device in cuda cpu; do
    step -a "$out" "pytest-embeddings-$device" 300 env GRADCORE_BIN="$BIN/gradcore" GRADCORE_DEVICE=$device \
      python3 -m pytest -q -p no:cacheprovider tests/reference/test_embeddings_torch.py
  done
}

suite_bench_embed() {
  local txt json cpu_txt cpu_json
  txt=$(result embed txt) json=$(result embed json) cpu_txt=$(result embed-cpu txt) cpu_json=$(result embed-cpu json)
  fresh "$txt" "$cpu_txt"
  step -o "$txt" bench_embed-cuda 300 "$BIN/bench_embed" --device cuda --json "$json"
  # Passive OpenMP workers: spinning ones would take the cores from OpenBLAS's own GEMM threads.
  step -o "$cpu_txt" bench_embed-cpu 200 env OMP_WAIT_POLICY=passive "$BIN/bench_embed" --device cpu --rows 200000 \
    --json "$cpu_json"
}

suite_bench_startup() {
  local jsonl r ranks=()
  for r in 1 2 4 8; do ((r <= GPUS)) && ranks+=("$r"); done
  jsonl=$(result startup jsonl)
  fresh "$jsonl"
  for _ in 1 2; do
    for r in "${ranks[@]}"; do
      for variant in "" --narrow "--narrow --early" "--narrow --touch 1024"; do
        # shellcheck disable=SC2086 # the variant's options, split at spaces
        step -o "$jsonl" "startup-np$r${variant// /}" 30 with_np "$r" 1 "$BIN/bench_startup" $variant
      done
    done
  done
}

suite_bench_fl() {
  local jsonl ratio stoch work=$TMP/fl p
  jsonl=$(result fl jsonl) ratio=$(result fl-200k-ratio txt) stoch=$(result fl-stochastic-10M txt)
  fresh "$jsonl" "$ratio" "$stoch"
  [ "$DRY_RUN" = 1 ] || mkdir -p "$work"
  step gen-rows 60 "$BIN/gradcore" gen --out "$work/rows.h5" --n 40000 --d 128 --classes 10 --seed 7 --modes 8 \
    --duplicates 0.05 --quiet
  step -o "$jsonl" bench_fl 120 "$BIN/bench_fl" 128 20000:200 40000:400
  # Many partitions on one GPU (issue #19): one by one, and concurrently through fl_greedy_many —
  # the shape of the 16M-row craig job's partitions (4,096 rows, κ = 9; D = 256, and its D = 100).
  step -o "$jsonl" bench_fl-partitions 120 "$BIN/bench_fl" partitions
  step -o "$jsonl" bench_fl-partitions-d100 120 "$BIN/bench_fl" partitions 4000 4096 100 9
  step -o "$jsonl" bench_fl-assign 300 "$BIN/bench_fl" assign 10000000:10:10:1000 4000000:128:10:500 \
    2000000:100:100:10000
  step -o "$jsonl" torch_greedy 120 python3 bench/fl/torch_greedy.py "$work/rows.h5" 20000:200 40000:400
  # One block of 200k rows does not fit the device-resident path: GEMM tiles, against 8 partitions.
  for p in 1 8; do
    step "200k-$p-partitions" 60 with_np 1 "$CORES" "$BIN/gradcore" select --device cuda \
      --data synthetic:n=200000,d=32,classes=10,seed=3 --embedding features --per-class off --k 200 \
      --partition-size $((200000 / p)) --out "$work/fl-200k-$p.h5" --timings "$work/fl-200k-$p.json" --quiet
  done
  step -o "$ratio" 200k-ratio 30 py FL_200K_RATIO "$work"
  local sel=(with_np "$GPUS" $((CORES / GPUS)) "$BIN/gradcore" select --device cuda --embedding features --quiet)
  step stochastic-10M 200 "${sel[@]}" --data synthetic:n=10000000,d=32,classes=10,seed=5 --k 10000 --stochastic 0.1 \
    --out "$work/stochastic-10M.h5" --timings "$work/stochastic-10M.json"
  step exact-1M 60 "${sel[@]}" --data synthetic:n=1000000,d=32,classes=10,seed=5 --k 1000 --out "$work/exact-1M.h5"
  step stochastic-1M 60 "${sel[@]}" --data synthetic:n=1000000,d=32,classes=10,seed=5 --k 1000 --stochastic 0.1 \
    --out "$work/stochastic-1M.h5"
  step -o "$stoch" stochastic-ratio 30 py FL_STOCHASTIC "$work" "$GPUS"
}

suite_bench_omp() {
  local jsonl cpu
  jsonl=$(result omp jsonl) cpu=$(result omp-cpu jsonl)
  fresh "$jsonl" "$cpu"
  step -o "$jsonl" bench_omp 150 with_np 1 "$CORES" "$BIN/bench_omp" --device cuda
  step -o "$jsonl" bench_omp-batch8 90 with_np 1 "$CORES" "$BIN/bench_omp" --device cuda --batch 8 4000000:128:200
  step -o "$jsonl" torch_omp 120 python3 bench/omp/torch_omp.py
  # Half width (issue #19): the same cases stored and scored at 2 bytes a value.
  step -o "$jsonl" bench_omp-bf16 120 with_np 1 "$CORES" "$BIN/bench_omp" --device cuda --precision bf16
  step -o "$jsonl" bench_omp-fp16 60 with_np 1 "$CORES" "$BIN/bench_omp" --device cuda --precision fp16 4000000:128:200
  step -o "$cpu" bench_omp-cpu 150 env OMP_WAIT_POLICY=passive bash -c 'with_np 1 "$@"' _ "$CORES" "$BIN/bench_omp" \
    --device cpu
  # Per-class OMP, every class in the same passes: the 16M-row, C = 10 job of issue #15, and C = 1000.
  step -o "$jsonl" bench_omp-classes 150 with_np 1 "$CORES" "$BIN/bench_omp" --device cuda --classes 10 \
    16000000:128:200
  step -o "$jsonl" bench_omp-classes1000 90 with_np 1 "$CORES" "$BIN/bench_omp" --device cuda --classes 1000 \
    4000000:128:10000
}

suite_bench_bico() {
  local jsonl sel_txt work=$TMP/bico c np
  jsonl=$(result bico jsonl) sel_txt=$(result bico-select txt)
  fresh "$jsonl" "$sel_txt"
  [ "$DRY_RUN" = 1 ] || mkdir -p "$work"
  local sel=("$BIN/gradcore" select --device cuda --method bico --k 200 --batch 10)
  step -a "$sel_txt" select-1M 90 with_np 1 "$CORES" "${sel[@]}" --data synthetic:n=1000000,d=32,classes=10,seed=1 \
    --timings "$work/bico.json" --out "$work/bico.h5"
  step -a "$sel_txt" select-1M-timings 5 cat "$work/bico.json"
  for np in 1 2 4; do
    step "np$np" 60 with_np "$np" 4 "${sel[@]}" --quiet --data synthetic:n=200000,d=32,classes=10,seed=3 \
      --out "$work/np$np.h5"
  done
  step -a "$sel_txt" same-coresets 30 py SAME_CORESETS "BiCo on the GPU, N = 200,000, k = 200" \
    "$work/np1.h5" "$work/np2.h5" "$work/np4.h5"
  # One case a step: a slow case costs only itself.
  for c in 1000000:256 1000000:1024 4000000:256 4000000:1024 250000:4096; do
    step -o "$jsonl" "bench_bico-$c" 150 with_np 1 "$CORES" "$BIN/bench_bico" --device cuda "$c"
  done
}

suite_bench_crest() {
  local out
  out=$(result crest txt) # appends a record a run (bench_crest.sh)
  step crest-all-gpus 240 env GRADCORE="$BIN/gradcore" NP="$GPUS" THREADS=$((CORES / GPUS)) DEVICE=cuda \
    bash bench/crest/bench_crest.sh "$out"
  ((GPUS > 1)) && step crest-one-gpu 240 env GRADCORE="$BIN/gradcore" NP=1 THREADS="$CORES" DEVICE=cuda \
    bash bench/crest/bench_crest.sh "$out"
}

suite_select() {
  local out work=$TMP/select device
  out=$(result select txt)
  fresh "$out"
  [ "$DRY_RUN" = 1 ] || mkdir -p "$work"
  for device in cuda cpu; do
    step -a "$out" "lastlayer-2-ranks-$device" 120 with_np 2 $((CORES / 2)) "$BIN/gradcore" select --device "$device" \
      --data synthetic:n=100000,d=128,classes=10,seed=1 --k 1% --embedding lastlayer --sketch 256 --hidden 256 \
      --timings "$work/lastlayer-$device.json" --out "$work/lastlayer-$device.h5"
    step -a "$out" "lastlayer-2-ranks-$device-timings" 5 cat "$work/lastlayer-$device.json"
  done
  step -a "$out" omp-4M-1-gpu 120 with_np 1 "$CORES" "$BIN/gradcore" select --device cuda \
    --data synthetic:n=4000000,d=128,classes=10,seed=1 --embedding features --selector omp --per-class off --k 200 \
    --ridge 1e-3 --timings "$work/omp.json" --out "$work/omp.h5"
  step -a "$out" omp-4M-1-gpu-timings 5 cat "$work/omp.json"
}

suite_scaling() {
  local work=$TMP/scaling ranks=() r sweep md
  for r in 1 2 4 8; do ((r <= (GPUS > 2 ? GPUS : 2))) && ranks+=("$r"); done
  local list max
  list=$(
    IFS=,
    echo "${ranks[*]}"
  )
  max=${ranks[-1]}
  md=$(result scaling md)
  fresh "$md"
  note "$md" "# Scaling on $SLUG ($GPUS GPU(s), $CORES cores): ranks $list, one rank a GPU while ranks ≤ GPUs"
  local common=(--local --ranks-per-node "$max" --cpus-per-task $((CORES / max)) --ranks "$list")
  # OMP: the features of D = 128 (d = 128), C = 10, k = 400; facility location: craig (logits,
  # C = 100), k = 2,000 (1M rows a GPU) or 16,000 (16M rows a GPU and the strong sweep, 0.1%).
  local omp=(--methods gmc --d 128 --classes 10 --k 400 --with "gmc=--embedding features --selector omp")
  local fl=(--methods craig --d 128 --classes 100)
  declare -A sweep_args=(
    [omp-strong]="--study strong --n 16000000"
    [omp-weak-1M]="--study weak --n-per-rank 1000000"
    [omp-weak-16M]="--study weak --n-per-rank 16000000"
    [fl-strong]="--study strong --n 16000000 --k 16000"
    [fl-weak-1M]="--study weak --n-per-rank 1000000 --k 2000"
    [fl-weak-16M]="--study weak --n-per-rank 16000000 --k 16000"
  )
  for sweep in ${SCALING_SWEEPS:-omp-strong omp-weak-1M omp-weak-16M fl-strong fl-weak-1M fl-weak-16M}; do
    # shellcheck disable=SC2206 # the sweep's options, split at spaces
    local these=(${sweep_args[$sweep]}) selector
    if [[ $sweep == omp-* ]]; then selector=("${omp[@]}"); else selector=("${fl[@]}"); fi
    # The lent hosts' environment turns Open MPI's single-copy transfers off (copy-in/copy-out then
    # moves a message only inside MPI calls); a cluster node uses CMA, as here
    # (bench/results/ab-h200x2/fl-exchange-progress/).
    step "$sweep" 170 env GRADCORE_BIN="$BIN/gradcore" OMPI_MCA_rmaps_base_oversubscribe=1 OMP_WAIT_POLICY=passive \
      OMPI_MCA_btl_vader_single_copy_mechanism=cma \
      slurm/scaling.sh "${common[@]}" "${selector[@]}" "${these[@]}" --out-dir "$work/$sweep"
    step "$sweep-report" 60 python3 slurm/report "$work/$sweep"
    # shellcheck disable=SC2016 # expanded by that bash
    step "$sweep-copy" 5 bash -c 'cat "$1/scaling.md" >>"$2" && cp "$1/scaling.csv" "$3.csv" && cp "$1/scaling.png" "$3.png" && mkdir -p "$3" && cp "$1"/*.json "$3"/' \
      _ "$work/$sweep" "$md" "bench/results/scaling-$sweep-$SLUG"
  done
}

suite_omp50k() {
  local out work=$TMP/omp50k nranks=$((4 * GPUS))
  out=$(result omp-k50000-scalapack txt)
  fresh "$out"
  [ "$DRY_RUN" = 1 ] || mkdir -p "$work"
  note "$out" "# $nranks ranks (4 per GPU), $((CORES / nranks)) BLAS threads each, on $SLUG"
  step -a "$out" omp-k50000 420 with_np "$nranks" $((CORES / nranks)) "$BIN/gradcore" select --device cuda \
    --data synthetic:n=1000000,d=64,classes=10,seed=1 --embedding features --selector omp --per-class off --k 50000 \
    --batch 1000 --ridge 1e-3 --refit scalapack --verbose --timings "$work/k50k.json" --out "$work/k50k.h5"
  step -a "$out" omp-k50000-timings 5 cat "$work/k50k.json"
}

suite_e2e() {
  local work=$TMP/e2e md
  md=$(result e2e md)
  fresh "$md"
  step e2e 560 env GRADCORE="$BIN/gradcore" NP=1 LIMIT_S="${E2E_LIMIT_S:-50}" ${E2E_METHODS:+METHODS="$E2E_METHODS"} \
    ${E2E_CLASSES:+CLASSES="$E2E_CLASSES"} bash bench/e2e/run.sh "$work" "${E2E_N:-16000000}"
  # shellcheck disable=SC2016 # expanded by that bash
  step e2e-copy 5 bash -c 'cat "$1/e2e.md" >>"$2" && rm -rf "$3" && mkdir -p "$3" && cp "$1"/*.json "$1"/*.log "$3"/' \
    _ "$work" "$md" "bench/results/e2e-$SLUG"
}

suite_inputs() {
  local md work=$TMP/inputs
  md=$(result e2e-inputs md)
  fresh "$md"
  [ "$DRY_RUN" = 1 ] || mkdir -p "$work"
  step -o "$md" inputs 560 env GRADCORE="$BIN/gradcore" GRADCORE_LIBRARY="$BIN/libgradcore.so" \
    LIMIT_S="${E2E_LIMIT_S:-90}" ${E2E_METHODS:+METHODS="$E2E_METHODS"} ${E2E_CLASSES:+CLASSES="$E2E_CLASSES"} \
    bash bench/e2e/inputs.sh "$work" "${E2E_N:-16000000}"
  step -o "$md" table 10 python3 bench/e2e/report.py --brief "$work"/*.json
  # shellcheck disable=SC2016 # expanded by that bash
  step inputs-copy 5 bash -c 'rm -rf "$2" && mkdir -p "$2" && cp "$1"/*.json "$1"/*.log "$2"/' \
    _ "$work" "bench/results/e2e-inputs-$SLUG"
}

suite_billion() {
  local work=$TMP/billion n_omp=${BILLION_N_OMP:-1000000000} n_fl=${BILLION_N_FL:-1000000000} out
  local precision=${BILLION_OMP_PRECISION:-bf16} fl_precision=${BILLION_FL_PRECISION:-bf16} name
  [ "$DRY_RUN" = 1 ] || mkdir -p "$work"
  # Both keep E on the GPUs alone (docs/design.md §3.2): 1e9 × 128 in bf16 is 64 GB a GPU of four
  # (OMP), 1e9 × 100 logits 50 GB (craig).
  if [ "$n_omp" -gt 0 ]; then # BILLION_N_OMP=0: craig alone
    name=1b-omp-n$n_omp-$precision
    out=$(result "$name" txt)
    fresh "$out"
    step -a "$out" omp 280 with_np "$GPUS" $((CORES / GPUS)) "$BIN/gradcore" select --device cuda \
      --data "synthetic:n=$n_omp,d=128,classes=10,seed=1" --embedding features --selector omp --k 10000 \
      --precision "$precision" --timings "bench/results/$name-$SLUG.json" --out "$work/omp.h5"
  fi
  [ "$n_fl" -gt 0 ] || return 0 # BILLION_N_FL=0: OMP alone
  name=1b-craig-n$n_fl-$fl_precision
  out=$(result "$name" txt)
  fresh "$out"
  step -a "$out" craig 400 with_np "$GPUS" $((CORES / GPUS)) "$BIN/gradcore" select --device cuda \
    --data "synthetic:n=$n_fl,d=128,classes=100,seed=1" --method craig --k 0.1% --precision "$fl_precision" \
    --timings "bench/results/$name-$SLUG.json" --out "$work/craig.h5"
}

suite_stream() {
  local out work=$TMP/stream f
  out=$(result embed-stream txt)
  fresh "$out"
  [ "$DRY_RUN" = 1 ] || mkdir -p "$work"
  step gen-1M-512 90 "$BIN/gradcore" gen --out "$work/rows.h5" --n 1000000 --d 512 --classes 10 --seed 1 --quiet
  local sel=("$BIN/gradcore" select --data "$work/rows.h5" --device cuda --selector omp --per-class off --k 10 --quiet)
  # features: the read alone; logits: X embedded while it is read.
  step read-only 60 "${sel[@]}" --embedding features --timings "$work/features.json" --out "$work/a.h5"
  step embed-while-reading 60 "${sel[@]}" --embedding logits --hidden 256 --timings "$work/logits.json" --out "$work/b.h5"
  for f in features logits; do
    note "$out" "### --embedding $f"
    step -o "$out" "timings-$f" 5 cat "$work/$f.json"
  done
}

suite_ab() {
  local md work=$TMP/ab names=(head) bins=("$BIN/gradcore") dir job rep i run method classes
  md=$(result ab-jobs md)
  fresh "$md"
  [ "$DRY_RUN" = 1 ] || mkdir -p "$work"
  for dir in "$BUNDLE"/ab/*/; do
    [ -x "$dir/gradcore" ] && names+=("$(basename "$dir")") && bins+=("$(realpath "$dir/gradcore")")
  done
  note "$md" "# Whole jobs, builds interleaved: ${names[*]} (head: the bundle's), $SLUG"
  for rep in $(seq "${AB_REPS:-2}"); do
    for job in ${AB_JOBS:-craig:100}; do
      method=${job%%:*} classes=${job#*:}
      for i in "${!names[@]}"; do
        run=$method-c$classes-${names[i]}-$rep
        # shellcheck disable=SC2086 # AB_ARGS: options, split at spaces
        step "$run" 90 with_np 1 "$CORES" "${bins[i]}" select --device cuda \
          --data "synthetic:n=${AB_N:-16000000},d=128,classes=$classes,seed=1" --method "$method" --k 0.1% \
          --timings "$work/$run.json" --out "$work/$run.h5" --quiet ${AB_ARGS:-}
      done
    done
  done
  step -o "$md" table 10 python3 bench/e2e/report.py --brief "$work"/*.json
  for job in ${AB_JOBS:-craig:100}; do
    method=${job%%:*} classes=${job#*:}
    # shellcheck disable=SC2046 # the runs' files, first build's first run first
    step -o "$md" "same-$method-c$classes" 30 py SAME_CORESETS "$method C = $classes" \
      $(for rep in $(seq "${AB_REPS:-2}"); do for i in "${!names[@]}"; do
        echo "$work/$method-c$classes-${names[i]}-$rep.h5"
      done; done)
  done
  # shellcheck disable=SC2016 # expanded by that bash
  step ab-copy 5 bash -c 'rm -rf "$2" && mkdir -p "$2" && cp "$1"/*.json "$2"/' _ "$work" "bench/results/ab-jobs-$SLUG"
}

# ---------------------------------------------------------------------------------------------

DRY_RUN=0
args=()
for a in "$@"; do
  case $a in
  --dry-run) DRY_RUN=1 ;;
  --list) sed -n '/^# Suites/,/^# SLUG/{/^# SLUG/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  -h | --help) usage 0 ;;
  -*) die "unknown option '$a' (see --help)" ;;
  *) args+=("$a") ;;
  esac
done
((${#args[@]})) || usage 2
bundling=0
if [ "${args[0]}" = bundle ]; then
  bundling=1
  args=("${args[@]:1}")
fi
for s in "${args[@]}"; do [[ " ${SUITES[*]} " == *" $s "* ]] || die "unknown suite '$s' (suites: ${SUITES[*]})"; done
if [ "$bundling" = 1 ]; then
  ((${#args[@]})) || [ -n "${GPU_TARGETS:-}" ] || die "bundle: name the suites to build for"
  bundle "${args[@]}"
  exit $?
fi

if [ -n "${GPU_BIN:-}" ]; then
  BIN=$GPU_BIN
elif [ -d "$BUNDLE/bin" ]; then
  BIN=$BUNDLE/bin
else
  BIN=build-gpu
fi
BIN=$(realpath -m "$BIN")
SLUG=$(device_slug)
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU') || GPUS=0
((GPUS > 0)) || GPUS=1 # a dry run without a GPU plans for one
CORES=$(nproc)
TMP=$(mktemp -d /tmp/gradcore-gpu.XXXXXX)
deadline=$((SECONDS + ${DEADLINE_S:-570}))
declare -A BUDGET_S=([tests]=450 [bench-embed]=200 [bench-fl]=300 [bench-omp]=240 [bench-bico]=400
  [bench-crest]=300 [bench-startup]=120 [select]=200 [scaling]=590 [omp50k]=450 [e2e]=570 [inputs]=570 [billion]=570 [stream]=150 [ab]=570)

if [ "$DRY_RUN" = 1 ]; then
  LOGS="(logs)"
  echo "gpu.sh --dry-run: device $SLUG, $GPUS GPU(s), $CORES cores, binaries in $BIN; results bench/results/*-$SLUG.*"
else
  if [ -n "${OUT:-}" ]; then LOGS=$OUT/logs; else LOGS=bench/logs/run-$SLUG-$(date -u +%Y%m%d-%H%M%S); fi
  mkdir -p "$LOGS" bench/results
  setup_libraries
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
  marker=$TMP/started
  touch "$marker"
  {
    echo "gpu.sh ${args[*]} on $SLUG, $(date -u '+%Y-%m-%d %H:%M UTC'), $("$BIN/gradcore" --version 2>/dev/null || echo "gradcore ?")"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
    echo "cores: $CORES; mpirun: $(command -v mpirun || echo none); still missing: $(missing_libraries | tr '\n' ' ')"
  } | tee -a "$LOGS/steps.log"
fi

for SUITE in "${args[@]}"; do
  suite_deadline=$((SECONDS + BUDGET_S[$SUITE]))
  ((suite_deadline > deadline)) && suite_deadline=$deadline
  [ "$DRY_RUN" = 1 ] && echo "$SUITE (budget ${BUDGET_S[$SUITE]} s):"
  "suite_${SUITE//-/_}"
done

if [ "$DRY_RUN" = 0 ]; then
  mapfile -t written < <(find bench/results -type f -newer "$marker" -printf '%P\n' | sort)
  {
    echo "=== results (bench/results/): ${written[*]:-none}"
    grep -c ': rc=0 ' "$LOGS/steps.log" | sed 's/^/=== steps with rc=0: /'
    grep -E ': rc=[1-9]|skipped' "$LOGS/steps.log" | sed 's/^/=== FAILED OR CUT: /'
  } | tee -a "$LOGS/steps.log"
  if [ -n "${OUT:-}" ] && ((${#written[@]})); then
    tar -cf "$OUT/results-$SLUG.tar" -C bench/results "${written[@]}"
    echo "=== packed into \$OUT/results-$SLUG.tar; here: tar -xf FILES_AT/results-$SLUG.tar -C bench/results"
  fi
fi
rm -rf "$TMP"
