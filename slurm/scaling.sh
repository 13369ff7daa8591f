#!/usr/bin/env bash
# Strong- and weak-scaling sweeps of gradcore on the synthetic dataset (rows are generated from their
# global index, so no input files exist at any scale), for facility location (craig) and OMP (gmc).
# Strong: N rows in all at every rank count. Weak: N = rows-per-rank × ranks. k is the same
# absolute number everywhere, so the selection's per-rank work stays fixed in the weak sweep (a
# percentage would grow OMP's step count with N). Every run writes, under the sweep directory,
#   <study>-<method>-p<ranks>.h5    the coreset (per-phase time_<phase>_s attributes)
#   <study>-<method>-p<ranks>.json  gradcore select --timings (min/mean/max over ranks, GB/s)
#   <study>-<method>-p<ranks>.out   the job's output
# and `slurm/report DIR` turns them into scaling.csv, scaling.md and scaling.png.
#
# usage: slurm/scaling.sh [options] [-- gradcore select options for every run]
#   --ranks LIST         rank (= GPU) counts, comma-separated             [1,2,4,8]
#   --ranks-per-node R   ranks (GPUs) per node                             [4]
#   --cpus-per-task C    CPUs (OpenMP threads) per rank                    [8]
#   --study S            strong, weak or both                              [both]
#   --methods LIST       gradcore methods, comma-separated                 [craig,gmc]
#   --with M=OPTIONS     gradcore options for method M's runs, split at spaces
#                        [gmc="--sketch 128": D = 128, the OMP floor of docs/design.md §7]
#   --n N                strong sweep: rows                                [4000000]
#   --n-per-rank M       weak sweep: rows per rank                         [1000000]
#   --d D                synthetic features per row                        [64]
#   --classes C          synthetic classes                                 [100]
#   --seed S             synthetic seed                                    [1]
#   --k K                coreset size                                      [1000]
#   --job FILE           job file for every other option                  [jobs/synthetic-scaling.ini]
#   --template FILE      sbatch template                                   [slurm/multi-node-gpus.sbatch]
#   --cpu                CPU nodes: template slurm/cpu.sbatch (local runs: --device cpu)
#   --sbatch "OPTIONS"   more sbatch options for every job (partition, account, time), split at spaces
#   --out-dir DIR        sweep directory                                   [scaling-<date>-<time>]
#   --local              no Slurm: run each configuration now, one after another, with mpirun -np P
#                        on this node (MPI options such as --oversubscribe from OMPI_MCA_* variables)
#   --dry-run            print the commands, run nothing
# Environment: GRADCORE_BIN (default: gradcore on PATH) and the templates' GRADCORE_* variables.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
command_line=("$0" "$@")

ranks_list=1,2,4,8 ranks_per_node=4 cpus_per_task=8 study=both methods=craig,gmc
n_strong=4000000 n_per_rank=1000000 d=64 classes=100 seed=1 k=1000
job=$repo/jobs/synthetic-scaling.ini template=$here/multi-node-gpus.sbatch device=cuda
sbatch_options="" out_dir=scaling-$(date +%Y%m%d-%H%M%S) mode=sbatch
declare -A method_options=([gmc]="--sketch 128")

die() { echo "scaling.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --ranks) ranks_list=$2; shift ;;
    --ranks-per-node) ranks_per_node=$2; shift ;;
    --cpus-per-task) cpus_per_task=$2; shift ;;
    --study) study=$2; shift ;;
    --methods) methods=$2; shift ;;
    --with) [[ $2 == *=* ]] || die "--with wants METHOD=OPTIONS, not '$2'"; method_options[${2%%=*}]=${2#*=}; shift ;;
    --n) n_strong=$2; shift ;;
    --n-per-rank) n_per_rank=$2; shift ;;
    --d) d=$2; shift ;;
    --classes) classes=$2; shift ;;
    --seed) seed=$2; shift ;;
    --k) k=$2; shift ;;
    --job) job=$2; shift ;;
    --template) template=$2; shift ;;
    --cpu) template=$here/cpu.sbatch device=cpu ;;
    --sbatch) sbatch_options=$2; shift ;;
    --out-dir) out_dir=$2; shift ;;
    --local) mode=local ;;
    --dry-run) dry_run=1 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done
extra=("$@")
dry_run=${dry_run:-0}
case $study in strong) studies=(strong) ;; weak) studies=(weak) ;; both) studies=(strong weak) ;; *) die "--study must be strong, weak or both" ;; esac
IFS=, read -r -a ranks <<<"$ranks_list"
IFS=, read -r -a method_names <<<"$methods"
for p in "${ranks[@]}"; do
  [[ $p =~ ^[1-9][0-9]*$ ]] || die "--ranks: '$p' is not a positive integer"
  [ "$p" -le "$ranks_per_node" ] || [ $((p % ranks_per_node)) -eq 0 ] ||
    die "--ranks: $p ranks do not fill whole nodes of $ranks_per_node"
done
[ -f "$job" ] || die "--job $job: no such file"
[ "$mode" = local ] || [ -f "$template" ] || die "--template $template: no such file"
# Jobs start in the submission directory, but the sweep must land in one place whatever it is.
job=$(realpath "$job")
out_dir=$(realpath -m "$out_dir")
bin=${GRADCORE_BIN:-gradcore}

# --timings is newer than the coreset's time_<phase>_s attributes; slurm/report reads either.
timings=1
if [ "$dry_run" = 0 ]; then
  command -v "$bin" >/dev/null || die "'$bin' not found: put gradcore on PATH or set GRADCORE_BIN"
  [[ $("$bin" select --help) == *--timings* ]] || timings=0
  mkdir -p "$out_dir"
  {
    echo "# gradcore scaling sweep, $(date -Is), $(hostname)"
    echo "# $("$bin" select --version 2>/dev/null || true)"
    echo "# $(printf '%q ' "${command_line[@]}")"
  } >"$out_dir/sweep.txt"
fi

# Prints the command with --dry-run, else records it in sweep.txt and runs it.
run() {
  if [ "$dry_run" = 1 ]; then
    printf '%q ' "$@"
    echo
    return 0
  fi
  printf '%q ' "$@" >>"$out_dir/sweep.txt"
  echo >>"$out_dir/sweep.txt"
  "$@"
}

export OMP_NUM_THREADS=$cpus_per_task # local runs; jobs set it from SLURM_CPUS_PER_TASK
# shellcheck disable=SC2206 # --sbatch's value is an option list, split at spaces
more_sbatch=($sbatch_options)
failed=0 submitted=0
for s in "${studies[@]}"; do
  for m in "${method_names[@]}"; do
    # shellcheck disable=SC2206 # so is --with's
    per_method=(${method_options[$m]:-})
    for p in "${ranks[@]}"; do
      tag=$s-$m-p$p
      n=$n_strong
      [ "$s" = weak ] && n=$((n_per_rank * p))
      select_args=(--data "synthetic:n=$n,d=$d,classes=$classes,seed=$seed" --method "$m" --k "$k"
                   --out "$out_dir/$tag.h5" "${per_method[@]}" "${extra[@]}")
      [ "$timings" = 1 ] && select_args+=(--timings "$out_dir/$tag.json")
      if [ "$mode" = local ]; then
        echo "scaling.sh: $tag: N = $n on $p rank(s)"
        # No binding: Open MPI would pin each rank to one core and squeeze its OpenMP threads onto it.
        command=(mpirun -np "$p" --bind-to none "$bin" select --config "$job" --device "$device" "${select_args[@]}")
        if [ "$dry_run" = 1 ]; then
          run "${command[@]}"
        elif ! run "${command[@]}" >"$out_dir/$tag.out" 2>&1; then
          echo "scaling.sh: $tag failed (see $out_dir/$tag.out)" >&2
          failed=$((failed + 1))
        fi
        continue
      fi
      per_node=$((p < ranks_per_node ? p : ranks_per_node))
      # The template's first argument is the job file; everything after it goes to gradcore select.
      jobid=$(run sbatch --parsable --job-name="gc-$tag" --nodes=$((p / per_node)) --ntasks="$p" \
        --ntasks-per-node="$per_node" --cpus-per-task="$cpus_per_task" --output="$out_dir/$tag.out" \
        "${more_sbatch[@]}" "$template" "$job" "${select_args[@]}")
      if [ "$dry_run" = 1 ]; then echo "$jobid"; else echo "scaling.sh: $tag: N = $n on $p rank(s): job $jobid"; fi
      submitted=$((submitted + 1))
    done
  done
done
if [ "$dry_run" = 0 ] && [ "$mode" = sbatch ]; then
  echo "scaling.sh: submitted $submitted job(s) writing to $out_dir; when they have finished: $here/report $out_dir"
elif [ "$dry_run" = 0 ]; then
  echo "scaling.sh: $failed failed run(s); report: $here/report $out_dir"
fi
[ "$failed" = 0 ]
