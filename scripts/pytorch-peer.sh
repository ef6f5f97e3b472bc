#!/usr/bin/env bash
# The benchmarks' PyTorch 2.x peer without touching the system's Python: a Debian 13 (trixie) root holding Debian's
# python3-torch (2.6) and python3-torchvision, made once with debootstrap from the Debian source this machine's apt
# already uses (scripts/debian-mirror.sh), and a Python script run inside it.
#
#   scripts/pytorch-peer.sh setup                    make the root (idempotent: nothing to do once it is there)
#   scripts/pytorch-peer.sh run SCRIPT.py [ARGS...]  make it if needed, then run SCRIPT (a path in this repository)
#
# The root is $CIFAR_PEER_ROOT, default /var/cache/cifar-peer/trixie: outside the repository (≈ 1.5 GiB). The run
# sees the repository read-only at /cifar (its working folder) and, when AIRBENCH94 names a copy of airbench94.py,
# that file at /airbench94.py (AIRBENCH94 says so inside). /proc, /sys and /dev are mounted into the root in a mount
# namespace of the run's own, so they disappear with it; without /proc, oneDNN sees no AVX and runs its slow
# reference kernels. Needs root (or sudo), debootstrap (installed with apt when missing) and a few minutes of
# download the first time.
set -euo pipefail

usage() { echo "usage: $0 setup | run SCRIPT.py [ARGS...]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
command=$1; shift
case "$command" in
  setup) [[ $# -eq 0 ]] || usage ;;
  run) [[ $# -ge 1 ]] || usage ;;
  *) usage ;;
esac

repo=$(cd "$(dirname "$0")/.." && pwd)
root=${CIFAR_PEER_ROOT:-/var/cache/cifar-peer/trixie}
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
# Written last by setup: a root without it is unfinished and is made again.
ready="$root/etc/cifar-peer-ready"

setup() {
  [[ -f "$ready" ]] && return 0
  if ! command -v debootstrap >/dev/null; then
    echo "pytorch-peer: installing debootstrap"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  source "$repo/scripts/debian-mirror.sh"
  local mirror
  mirror=$(debian_mirror trixie bookworm)
  if [[ -z "$mirror" ]]; then
    echo "pytorch-peer: no apt source for Debian's main component (trixie or bookworm) to make the root from" >&2
    exit 1
  fi
  # A half-made root (an interrupted download) is started over: debootstrap does not resume.
  local partial="$root.partial"
  $sudo rm -rf "$partial"
  $sudo mkdir -p "$(dirname "$root")"
  echo "pytorch-peer: making a Debian 13 root with python3-torch in $root from $mirror (a few minutes)"
  # The log is written by tee under sudo: the folder is root's when the user is not.
  $sudo debootstrap --variant=minbase --include=python3-torch,python3-torchvision trixie "$partial" "$mirror" 2>&1 \
    | $sudo tee "$(dirname "$root")/debootstrap.log" >/dev/null \
    || { echo "pytorch-peer: debootstrap failed; its log: $(dirname "$root")/debootstrap.log" >&2; exit 1; }
  $sudo rm -rf "$root"
  $sudo mv "$partial" "$root"
  $sudo mkdir -p "$root/cifar"
  $sudo touch "$root/airbench94.py"
  echo "debootstrap --variant=minbase --include=python3-torch,python3-torchvision trixie" | $sudo tee "$ready" >/dev/null
}

setup
[[ "$command" == setup ]] && { echo "pytorch-peer: root ready at $root"; exit 0; }

script=$(realpath "$1"); shift
case "$script" in
  "$repo"/*) ;;
  *) echo "pytorch-peer: $script is not in this repository ($repo), which is all the run sees" >&2; exit 2 ;;
esac
airbench=""
if [[ -n "${AIRBENCH94:-}" ]]; then
  airbench=$(realpath "$AIRBENCH94")
  [[ -f "$airbench" ]] || { echo "pytorch-peer: AIRBENCH94=$AIRBENCH94 is not a file" >&2; exit 2; }
fi

# sudo would reset the environment: the settings both sides of a comparison compute with pass through it.
[[ -z "$sudo" ]] || sudo="sudo --preserve-env=OMP_NUM_THREADS,THP_MEM_ALLOC_ENABLE,GLIBC_TUNABLES,ONEDNN_MAX_CPU_ISA,DNNL_MAX_CPU_ISA"
# The mounts live in the run's own mount namespace: nothing is left mounted when it ends, however it ends.
exec $sudo unshare --mount --propagation private -- /bin/bash -c '
  set -e
  root=$1 repo=$2 airbench=$3; shift 3
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  mount --bind "$repo" "$root/cifar" && mount -o remount,bind,ro "$root/cifar"
  if [[ -n "$airbench" ]]; then mount --bind "$airbench" "$root/airbench94.py"; export AIRBENCH94=/airbench94.py; else unset AIRBENCH94; fi
  exec chroot "$root" /usr/bin/env -C /cifar HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin PYTHONUNBUFFERED=1 \
    ${AIRBENCH94:+AIRBENCH94=$AIRBENCH94} python3 "$@"
' pytorch-peer "$root" "$repo" "$airbench" "/cifar/${script#"$repo"/}" "$@"
