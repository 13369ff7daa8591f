#!/usr/bin/env bash
# scripts/gpu.sh plans every suite without a GPU: --dry-run prints each suite's steps and exits 0
# (an unset variable or a bad step in a suite fails here, not in a device call), bundle --dry-run
# names the A/B revisions it would build, and an unknown suite is one line and exit code 2.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
fail() {
  echo "test_gpu_plan: $*" >&2
  exit 1
}
mapfile -t suites < <(sed -n 's/^SUITES=(\(.*\))$/\1/p' scripts/gpu.sh | tr ' ' '\n')
((${#suites[@]} >= 10)) || fail "cannot read the suites from scripts/gpu.sh"
plan=$(AB_JOBS="craig:100 adacore:10" AB_REPS=2 bash scripts/gpu.sh --dry-run "${suites[@]}" 2>&1) ||
  fail "--dry-run of every suite failed: $(tail -3 <<<"$plan")"
for s in "${suites[@]}"; do
  grep -q "^$s (budget [0-9]* s):" <<<"$plan" || fail "no plan printed for suite $s"
  grep -q "^  $s/" <<<"$plan" || fail "suite $s plans no step"
done
# ab: every job under every build, each round, and one coreset comparison a job.
[ "$(grep -c '^  ab/craig-c100-head-[12] ' <<<"$plan")" = 2 ] || fail "ab does not run craig twice"
[ "$(grep -c '^  ab/adacore-c10-head-[12] ' <<<"$plan")" = 2 ] || fail "ab does not run adacore twice"
[ "$(grep -c '^  ab/same-' <<<"$plan")" = 2 ] || fail "ab does not compare each job's coresets"
bundle=$(GPU_AB_REVS="HEAD" bash scripts/gpu.sh --dry-run bundle ab 2>&1) || fail "bundle --dry-run failed: $bundle"
grep -q "gradcore at each of HEAD" <<<"$bundle" || fail "bundle --dry-run does not name the A/B revisions"
out=$(bash scripts/gpu.sh --dry-run no-such-suite 2>&1)
rc=$?
[ "$rc" = 2 ] || fail "an unknown suite exits $rc, not 2"
[ "$(wc -l <<<"$out")" = 1 ] && grep -q "unknown suite 'no-such-suite'" <<<"$out" || fail "unknown suite: $out"
echo "test_gpu_plan: ${#suites[@]} suites planned"
