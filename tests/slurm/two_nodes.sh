# Sourced (bash): a two-node Slurm cluster on one machine, for tests/slurm/test_slurm_two_nodes.sh
# and bench/netem/netem.sh. Nodes n1 and n2 are network and UTS namespaces of their own, each with
# one veth port on a bridge in a third namespace ("hub", host name ctl) where slurmctld runs:
#
#   n1 (eth0 10.199.21.1) ──┐
#                           br0 (10.199.21.254, slurmctld) in hub
#   n2 (eth0 10.199.21.2) ──┘
#
# The /24 exists only inside these namespaces: no namespace has a default route or any route but
# the bridge's subnet, so no traffic leaves them, and nothing is created in the caller's own
# network namespace. munged runs in the caller's namespace; its socket (a file) is shared by all.
# Every daemon starts in the foreground under this shell, and two_nodes_down kills whatever still
# runs inside the namespaces (`ip netns pids`), then deletes them, which removes their links too.
#
# The caller sets tmp (an empty directory, mode 755, not under /tmp: each node binds a /tmp of its
# own) and defines say and fail; then: two_nodes_probe (returns 1 with a reason in
# $two_nodes_refused when the kernel refuses namespaces), install_slurm (tests/slurm/install_slurm.sh),
# two_nodes_up [slurm.conf lines], two_nodes_down (never fails, safe to call twice). in_hub CMD…
# runs a command in the hub (sbatch, squeue, scontrol reach the controller only from there);
# in_node n1|n2 CMD… runs one on a node.

# shellcheck source=tests/slurm/install_slurm.sh
source "$(dirname "${BASH_SOURCE[0]}")/install_slurm.sh"

two_nodes_subnet=10.199.21
two_nodes_prefix=gc$$
two_nodes_ns_hub=${two_nodes_prefix}-hub
two_nodes_ns_n1=${two_nodes_prefix}-n1
two_nodes_ns_n2=${two_nodes_prefix}-n2
two_nodes_created="" two_nodes_pids=""

# nsenter, not `ip netns exec`: the latter remounts /sys for the namespace, which hides the
# cgroup file system slurmd needs; only the network namespace changes here.
in_hub() { nsenter --net="/run/netns/$two_nodes_ns_hub" "$@"; }
in_node() {
  local ns=${two_nodes_prefix}-$1
  shift
  nsenter --net="/run/netns/$ns" "$@"
}

# Whether this kernel (and container) lets root create network and UTS namespaces and veth pairs.
two_nodes_probe() {
  local probe=${two_nodes_prefix}-probe out
  two_nodes_refused=""
  if ! out=$(ip netns add "$probe" 2>&1); then
    two_nodes_refused="ip netns add: $out"
    return 1
  fi
  if ! out=$(ip -n "$probe" link add p0 type veth peer name p1 2>&1); then
    two_nodes_refused="veth: $out"
  elif ! out=$(ip -n "$probe" link add b0 type bridge 2>&1); then
    two_nodes_refused="bridge: $out"
  elif ! out=$(ip netns exec "$probe" unshare --uts hostname n0 2>&1); then
    two_nodes_refused="unshare --uts: $out"
  fi
  ip netns delete "$probe" 2>/dev/null
  [ -z "$two_nodes_refused" ]
}

# Starts munged, the namespaces and links, slurmctld and both slurmd; returns once both nodes are
# idle. Extra arguments are added to slurm.conf (before the node lines).
two_nodes_up() {
  local ns node i
  mkdir -m 700 "$tmp/munge"
  mkdir -m 755 "$tmp/run" "$tmp/state" "$tmp/spool" "$tmp/log"
  head -c 1024 /dev/urandom >"$tmp/munge/munge.key"
  chmod 400 "$tmp/munge/munge.key"

  for ns in "$two_nodes_ns_hub" "$two_nodes_ns_n1" "$two_nodes_ns_n2"; do
    ip netns add "$ns" || fail "ip netns add $ns failed"
    two_nodes_created="$two_nodes_created $ns"
    ip -n "$ns" link set lo up
  done
  ip -n "$two_nodes_ns_hub" link add br0 type bridge
  ip -n "$two_nodes_ns_hub" addr add "$two_nodes_subnet.254/24" dev br0
  ip -n "$two_nodes_ns_hub" link set br0 up
  for i in 1 2; do
    ns=${two_nodes_prefix}-n$i
    # Created inside the hub with its peer moved straight into the node: nothing passes through
    # the caller's namespace.
    ip -n "$two_nodes_ns_hub" link add "port$i" type veth peer name eth0 netns "$ns" ||
      fail "veth for n$i failed"
    ip -n "$two_nodes_ns_hub" link set "port$i" master br0 up
    ip -n "$ns" addr add "$two_nodes_subnet.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
  done

  cat >"$tmp/slurm.conf" <<EOF
ClusterName=gradcore-two-nodes
SlurmctldHost=ctl($two_nodes_subnet.254)
$(slurm_common_settings "$tmp")
KillWait=2
MinJobAge=600
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool/%n
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd-%n.pid
GresTypes=gpu
$(printf '%s\n' "$@")
NodeName=n1 NodeAddr=$two_nodes_subnet.1 CPUs=2 ${two_nodes_gres:-} RealMemory=1000 State=UNKNOWN
NodeName=n2 NodeAddr=$two_nodes_subnet.2 CPUs=2 ${two_nodes_gres:-} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$tmp/slurm.conf

  # In the foreground (-F, -D) so that this shell owns their PIDs; started in $tmp.
  (cd "$tmp" && exec munged -F --socket="$tmp/run/munge.socket" --key-file="$tmp/munge/munge.key" \
     --pid-file="$tmp/run/munged.pid" --log-file="$tmp/munge/munged.log" --seed-file="$tmp/munge/seed") \
     >"$tmp/log/munged.out" 2>&1 &
  two_nodes_pids="$two_nodes_pids $!"
  for _ in $(seq 40); do munge -n -S "$tmp/run/munge.socket" >/dev/null 2>&1 && break; sleep 0.25; done
  munge -n -S "$tmp/run/munge.socket" >/dev/null || fail "munged did not start"
  (cd "$tmp" && exec nsenter --net="/run/netns/$two_nodes_ns_hub" unshare --uts sh -c 'hostname ctl && exec slurmctld -D') \
    >"$tmp/log/slurmctld.out" 2>&1 &
  two_nodes_pids="$two_nodes_pids $!"
  for node in n1 n2; do
    mkdir -m 755 "$tmp/spool/$node"
    mkdir -m 1777 "$tmp/tmp-$node"
    # Each node also gets a /tmp and a /dev/shm of its own (a mount namespace with $tmp/tmp-NODE
    # bound on /tmp and a fresh tmpfs on /dev/shm), as separate hosts have: Slurm's PMIx plugin
    # keeps a per-step directory under /tmp that the two nodes' step daemons would otherwise both
    # create, and Open MPI's shared-memory segments (/dev/shm/vader_segment.HOST.…) would meet
    # those of any other cluster like this one on the machine, whose jobs have the same numbers.
    (cd "$tmp" && exec nsenter --net="/run/netns/${two_nodes_prefix}-$node" unshare --uts --mount \
       sh -c "mount --bind '$tmp/tmp-$node' /tmp && mount -t tmpfs -o size=512m,mode=1777 shm-$node /dev/shm &&
              hostname $node && exec slurmd -D -N $node") >"$tmp/log/slurmd-$node.out" 2>&1 &
    two_nodes_pids="$two_nodes_pids $!"
  done
  local states=""
  for _ in $(seq 60); do
    states=$(in_hub sinfo -h -N -o '%N=%t' 2>/dev/null | sort | tr '\n' ' ' || true)
    [ "$states" = "n1=idle n2=idle " ] && break
    for pid in $two_nodes_pids; do kill -0 "$pid" 2>/dev/null || fail "a daemon exited (logs below)"; done
    sleep 0.5
  done
  [ "$states" = "n1=idle n2=idle " ] || fail "nodes are '${states:-unknown}', not idle, 30 s after starting the daemons"
}

# Cancels the jobs, stops the daemons, kills what still runs in the namespaces and deletes them.
two_nodes_down() {
  local ns pid
  if [ -n "$two_nodes_created" ]; then
    in_hub scancel --user=root --quiet 2>/dev/null
    for _ in $(seq 20); do [ -z "$(in_hub squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  for pid in $two_nodes_pids; do kill -TERM "$pid" 2>/dev/null; done
  for pid in $two_nodes_pids; do
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  two_nodes_pids=""
  for ns in $two_nodes_created; do
    # Job steps and ranks leave this shell's process tree but not their namespace.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      say "killing leftover process $pid in $ns: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
      kill -KILL "$pid" 2>/dev/null
    done
    for _ in $(seq 20); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.25; done
    ip netns delete "$ns" 2>/dev/null || say "could not delete namespace $ns"
  done
  two_nodes_created=""
}
