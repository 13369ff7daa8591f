#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz with clang (-fsanitize=fuzzer,address,undefined) and
# runs each for a bounded time, starting from its seed corpus tests/fuzz/corpus/<target>/ (read
# only: inputs libFuzzer finds go to $FUZZ_DIR/corpus/<target>/). A crash, leak, timeout or undefined
# behaviour fails the script and leaves the reproducer in $FUZZ_DIR/artifacts/; replay it with
#   $FUZZ_DIR/<target> $FUZZ_DIR/artifacts/<file>
# FUZZ_SECONDS (default 30) per target, FUZZ_DIR (default build-fuzz). Needs clang and its libFuzzer
# runtime (Debian: clang libclang-rt-dev), Open MPI and parallel HDF5 (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-30}
out=${FUZZ_DIR:-build-fuzz}
# The dataset target initialises MPI (a one-rank singleton); CI runs as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# use_tls=0: LeakSanitizer's scan of thread-local storage faults (SEGV in ScanRangeForPointers at a
# small address, "Tracer caught signal 11") on a dynamic TLS block of Open MPI's runtime threads
# with clang 14 and glibc 2.36. Heap, globals and stacks are still scanned, and gradcore keeps no
# heap pointer only in TLS, so its leaks are still reported; Open MPI's objects held only in TLS
# are suppressed by library (tests/fuzz/lsan.supp).
export LSAN_OPTIONS=${LSAN_OPTIONS:-use_tls=0:suppressions=$PWD/tests/fuzz/lsan.supp}
mkdir -p "$out/artifacts"

flags=(-std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -I.)
clang "${flags[@]}" tests/fuzz/fuzz_job_file.c core/options.c core/error.c core/fault.c core/log.c -o "$out/fuzz_job_file"
# -Wno-unknown-pragmas: the generator's OpenMP loop (io/synthetic.c) runs serially here.
# shellcheck disable=SC2046
clang "${flags[@]}" -Wno-unknown-pragmas $(pkg-config --cflags hdf5-openmpi) tests/fuzz/fuzz_dataset_meta.c \
      io/dataset.c io/h5util.c io/synthetic.c core/comm.c core/finite.c core/error.c core/fault.c core/log.c $(pkg-config --libs hdf5-openmpi) -lm \
      -o "$out/fuzz_dataset_meta"
# shellcheck disable=SC2046
clang "${flags[@]}" $(pkg-config --cflags hdf5-openmpi) tests/fuzz/fuzz_model.c io/model.c io/h5util.c \
      core/comm.c core/error.c core/fault.c core/log.c $(pkg-config --libs hdf5-openmpi) -lm -o "$out/fuzz_model"

# max_len: job files reach past the reader's 4,095-character line limit; dataset descriptions need
# 2 + 3 × 12 bytes plus values and specs up to the parser's 512-character buffer; a model 3 + 4 × 44 bytes.
declare -A max_len=([job_file]=6000 [dataset_meta]=700 [model]=200)
status=0
for target in job_file dataset_meta model; do
  mkdir -p "$out/corpus/$target"
  if "$out/fuzz_$target" "$out/corpus/$target" "tests/fuzz/corpus/$target" -max_total_time="$seconds" \
       -max_len="${max_len[$target]}" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$out/artifacts/$target-" \
       >"$out/$target.log" 2>&1; then
    echo "fuzz $target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$out/$target.log" | tail -1)"
  else
    echo "fuzz $target: FAILED (log: $out/$target.log)"
    grep -E -A12 '^==[0-9]+== ?ERROR|runtime error|SUMMARY|Tracer caught|LeakSanitizer has' "$out/$target.log" | head -40
    status=1
  fi
done
exit $status
