# Sourced (bash): install_slurm installs Debian's slurm-wlm and munge when they are absent, and
# install_packages PKG… any Debian packages. The caller defines say and fail. Debian's maintainer
# scripts would start munged and the Slurm daemons system-wide (and leave them running); a
# policy-rc.d that says 101 tells invoke-rc.d and deb-systemd-invoke not to. One that exists already
# is left as it is; one made here is removed after the install, and by the EXIT trap of whoever
# sources this (install_slurm_remove_policy) if the install is cut short.
install_slurm_policy_created=0
install_packages() {
  say "installing $* (apt-get)"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    install_slurm_policy_created=1
  fi
  local install=(apt-get install -y -qq --no-install-recommends "$@") rc=0
  DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null; } || rc=1
  install_slurm_remove_policy
  [ "$rc" = 0 ] || fail "apt-get install $* failed"
}
install_slurm() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null &&
    command -v munged >/dev/null && return 0
  install_packages slurm-wlm munge
}
# Removes the policy-rc.d that install_packages made, if it made one.
install_slurm_remove_policy() {
  [ "$install_slurm_policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d
  install_slurm_policy_created=0
}

# slurm.conf lines both test clusters share (root daemons, munge on the socket under $1/run, no
# accounting, consumable cores); each test adds its host names, ports and paths.
slurm_common_settings() {
  cat <<EOF
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$1/run/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
ReturnToService=2
SlurmdParameters=config_overrides
MailProg=/bin/true
EOF
}
