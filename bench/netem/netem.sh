#!/usr/bin/env bash
# docs/scaling.md's communication model under a slow network: 4 ranks on 2 emulated nodes (the
# two-node Slurm cluster of tests/slurm/two_nodes.sh), with latency and bandwidth put on the link
# between the nodes, gradcore's collectives timed by family (bench/netem/mpi_profile.c, LD_PRELOAD)
# and the link itself measured (bench/netem/pingpong.c); bench/netem/report.py then sets each
# family's time next to the model's prediction at the measured latency and bandwidth.
#
#   bash bench/netem/netem.sh [--out bench/results/netem-cpu-netns] [--delays 2,20,200] [--rates 10gbit,100gbit]
#                             [--ranks-per-node 2] [--repeat 3]
#
# Each measurement is repeated (--repeat) and the report keeps the best repetition of each number
# (lowest latency and time, highest bandwidth): on a shared machine interference only ever adds.
# With GRADCORE_BIN_BEFORE set (another build of gradcore, e.g. before a change to the collectives),
# each workload also runs with it, tagged "before", for a before/after comparison on the same link;
# both builds must choose the same coresets.
# The link: with sch_netem (tc qdisc … netem) the kernel delays the packets; without it (this
# project's VMs) bench/netem/delayline.c does, a TUN device in each node that the peer's address is
# routed through, with a user-space first-in-first-out delay between the two, and tbf on the TUN
# devices shapes the bandwidth. The first configuration, "bridge", is the plain veth path with
# nothing added. Every configuration's measured one-way latency and bandwidth are recorded: on a
# loaded 2-core machine they, not the settings, are what the model is given.
# Writes OUT.jsonl (one line per configuration and family, plus the link measurements) and OUT.md.
# Needs root, gradcore built (GRADCORE_BIN, default build/gradcore) and mpicc.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$repo/bench/results/netem-cpu-netns delays=2,20,200 rates=10gbit,100gbit per_node=2 repeat=3
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --delays) delays=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --ranks-per-node) per_node=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    *) echo "usage: netem.sh [--out PREFIX] [--delays US,…] [--rates RATE,…] [--ranks-per-node N] [--repeat R]" >&2
       exit 2 ;;
  esac
done
# Absolute: the ranks write their profiles from the job's working directory.
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
bin=${GRADCORE_BIN:-$repo/build/gradcore}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
python=${GRADCORE_PYTHON:-python3}
started=$(date +%s)
say() { echo "netem: [$(($(date +%s) - started)) s] $*"; }
fail() { echo "netem: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (network namespaces, Slurm daemons)"
# shellcheck source=tests/slurm/two_nodes.sh
source "$repo/tests/slurm/two_nodes.sh"
command -v ip >/dev/null || install_packages iproute2
two_nodes_probe || fail "the kernel refuses namespaces: $two_nodes_refused"

tmp="" line_pid=""
stop_line() {
  [ -n "$line_pid" ] || return 0
  kill -TERM "$line_pid" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 "$line_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$line_pid" 2>/dev/null || true
  wait "$line_pid" 2>/dev/null || true
  line_pid=""
}
cleanup() {
  local rc=$?
  set +e
  stop_line
  two_nodes_down
  install_slurm_remove_policy
  [ -n "$tmp" ] && rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
install_slurm
tmp=$(mktemp -d /var/tmp/gradcore-netem.XXXXXX)
chmod 755 "$tmp"
cc -O2 -std=c11 -Wall -Wextra -Werror "$repo/bench/netem/delayline.c" -o "$tmp/delayline"
mpicc -O2 -std=c11 -Wall -Wextra -Werror -shared -fPIC "$repo/bench/netem/mpi_profile.c" -o "$tmp/libgcprofile.so"
mpicc -O2 -std=c11 -Wall -Wextra -Werror "$repo/bench/netem/pingpong.c" -o "$tmp/pingpong"
netem=no
ip netns add "${two_nodes_prefix}-nt" && ip -n "${two_nodes_prefix}-nt" link add nt0 type veth peer name nt1 &&
  ip netns exec "${two_nodes_prefix}-nt" tc qdisc add dev nt0 root netem delay 1ms 2>/dev/null && netem=yes
ip netns delete "${two_nodes_prefix}-nt" 2>/dev/null || true
# The delay line at a real-time priority where allowed: it sleeps until a packet is due, and must
# then win the core from the ranks.
realtime=(chrt -f 10)
"${realtime[@]}" true 2>/dev/null || realtime=()
say "sch_netem: $netem; $(nproc) cores; $(uname -r); delay line priority: ${realtime[*]:-normal}"
two_nodes_up
work=$tmp/work
mkdir -m 755 "$work"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=$two_nodes_subnet.0/24
# Four ranks and the delay line share the cores: a waiting rank yields instead of spinning.
export OMPI_MCA_mpi_yield_when_idle=1
# The workloads: facility location with 16 partitions (the row exchange, the candidate gather, the
# coreset broadcasts) and OMP with 200 passes of one atom (a reduction and a broadcast each).
data="synthetic:n=40000,d=32,classes=4,seed=21"
fl=(select --data "$data" --method craig --embedding features --k 200 --partition-size 2500 --device cpu --quiet)
omp=(select --data "$data" --embedding features --selector omp --k 200 --ridge 1e-3 --device cpu --quiet)
launch() { (cd "$work" && in_hub timeout 300 srun --mpi=pmix -N 2 --ntasks-per-node="$per_node" --cpus-per-task=1 "$@"); }
builds=("after=$bin")
[ -n "${GRADCORE_BIN_BEFORE:-}" ] && builds+=("before=$(cd "$(dirname "$GRADCORE_BIN_BEFORE")" && pwd)/$(basename "$GRADCORE_BIN_BEFORE")")

: >"$out.jsonl"
# measure TAG DELAY_US RATE: the link, then both selectors, under the current configuration.
measure() {
  local tag=$1 delay=$2 rate=$3 link rep build name exe
  for rep in $(seq "$repeat"); do
  link=$(launch "$tmp/pingpong") || fail "pingpong failed under $tag"
  echo "{\"run\": \"$tag\", \"delay_us\": $delay, \"rate\": \"$rate\", \"netem\": \"$netem\", \"link\": $link}" >>"$out.jsonl"
  for method in fl omp; do
    local -n args=$method
    for build in "${builds[@]}"; do
      name=${build%%=*} exe=${build#*=}
      GC_PROFILE_OUT=$out.jsonl GC_PROFILE_TAG="$tag $method $name" \
        launch env LD_PRELOAD="$tmp/libgcprofile.so" "$exe" "${args[@]}" --out "$method-$name.h5" \
        --timings "$method-$name.json" || fail "$method ($name) failed under $tag"
      "$python" "$repo/bench/netem/report.py" --phases "$work/$method-$name.json" "$tag $method $name" >>"$out.jsonl"
    done
    [ "${#builds[@]}" = 1 ] || "$python" "$repo/bench/netem/report.py" --same "$work/$method-after.h5" \
      "$work/$method-before.h5" || fail "$method: the two builds chose different coresets under $tag"
  done
  say "$tag (repetition $rep): $link"
  done
}

measure bridge 0 none
IFS=, read -r -a delay_list <<<"$delays"
IFS=, read -r -a rate_list <<<"$rates"
for rate in "${rate_list[@]}"; do
  for delay in "${delay_list[@]}"; do
    tag="delay ${delay}us rate $rate"
    if [ "$netem" = yes ]; then
      for node in n1 n2; do
        ip netns exec "${two_nodes_prefix}-$node" tc qdisc replace dev eth0 root netem delay "${delay}us" rate "$rate"
      done
    else
      # The delay line lives at most 10 minutes; it is stopped after this configuration.
      coproc line { exec "${realtime[@]}" "$tmp/delayline" "$delay" 600 "/run/netns/$two_nodes_ns_n1" "/run/netns/$two_nodes_ns_n2"; }
      line_pid=$line_PID
      read -r -t 10 ready <&"${line[0]}" && [ "$ready" = ready ] || fail "the delay line did not start"
      for i in 1 2; do
        ns=${two_nodes_prefix}-n$i
        ip -n "$ns" link set dl0 mtu 9000 up
        ip -n "$ns" route add "$two_nodes_subnet.$((3 - i))/32" dev dl0 src "$two_nodes_subnet.$i"
        ip netns exec "$ns" tc qdisc add dev dl0 root tbf rate "$rate" burst 1mb latency 50ms
      done
    fi
    measure "$tag" "$delay" "$rate"
    stop_line
  done
done
"$python" "$repo/bench/netem/report.py" --table "$out.jsonl" >"$out.md"
say "wrote $out.jsonl and $out.md"
