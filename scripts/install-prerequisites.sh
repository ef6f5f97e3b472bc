#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and train Cifar; with --tests, also what the tests drive:
# Debian's chromium (the serve pages' browser tests), Debian's python3-torch (PyTorch 1.13: the test that
# an incompatible libtorch is refused, and the benchmarks' PyTorch peer) and Node.js with onnxruntime-node in
# tests/onnx-node (the exported ONNX model scored by a runtime outside .NET). scripts/test.sh passes --tests.
#
# TorchSharp 0.107's native library (libLibTorchSharp.so, libtorch 2.10) is linked against
# GLIBCXX_3.4.32, i.e. the libstdc++ of GCC 13+. Debian 12 (bookworm) ships GCC 12's libstdc++
# (GLIBCXX_3.4.30), so TorchSharp fails to load there with "version `GLIBCXX_3.4.32' not found".
# On Debian 12 this script adds Debian 13 (trixie), from the machine's own bookworm source, as a
# low-priority apt source and installs trixie's libstdc++6. That is more than a C++ library: it needs
# glibc 2.38+, so apt also upgrades libc6 to 2.41, base-files to 13 (/etc/os-release then says Debian 13)
# and, with libc6-dev installed, dpkg; nothing is removed and it cannot be downgraded. The full list,
# and alternatives for a machine whose owner won't allow that: docs/native-prerequisites.md.
#
# Idempotent: it does nothing when the running libstdc++ already has GLIBCXX_3.4.32.
set -euo pipefail

tests=false
case "${1:-}" in
  "") ;;
  --tests) tests=true ;;
  *) echo "usage: $0 [--tests]" >&2; exit 2 ;;
esac

need=GLIBCXX_3.4.32

has_glibcxx() {
  local lib
  lib=$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64|libstdc\+\+\.so\.6 .*AArch64/ {print $NF; exit}')
  [[ -n "$lib" && -r "$lib" ]] && grep -qa "$need" "$lib"
}

sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"

# Installs the Debian packages named (apt-get update first); false when that cannot be done here.
apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "prerequisites: install $* (Debian's names) with this system's package manager" >&2
    return 1
  fi
  echo "prerequisites: installing $* (a few minutes the first time)"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The training plots' text is drawn in DejaVu Sans (SkiaSharp's bundled native library has no fontconfig, so it
# needs a font file): fonts-dejavu-core. Training needs it, so a failure stops here.
if [[ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]]; then apt_install fonts-dejavu-core || exit 1; fi

# What only the tests drive. A failure is reported and the tests still run: those that need the missing tool fail
# naming it, and every other test still gives its answer.
if $tests; then
  packages=()
  [[ -x /usr/bin/chromium ]] || packages+=(chromium)
  [[ -f /usr/lib/python3/dist-packages/torch/lib/libtorch.so ]] || packages+=(python3-torch)
  command -v npm >/dev/null || packages+=(nodejs npm)
  if (( ${#packages[@]} > 0 )) && ! apt_install "${packages[@]}"; then
    echo "prerequisites: warning: ${packages[*]} could not be installed; the tests that drive them will fail" >&2
  fi
  # onnxruntime-node's own CPU build ships in its package; its install script (skipped) would fetch CUDA builds.
  onnx_node="$(cd "$(dirname "$0")/.." && pwd)/tests/onnx-node"
  if [[ ! -d "$onnx_node/node_modules/onnxruntime-node" ]]; then
    echo "prerequisites: installing onnxruntime-node into tests/onnx-node"
    (cd "$onnx_node" && npm install --ignore-scripts --no-package-lock --no-audit --no-fund --silent) \
      || echo "prerequisites: warning: onnxruntime-node could not be installed; the tests that score with it will fail" >&2
  fi
fi

if has_glibcxx; then
  echo "prerequisites: libstdc++ already provides $need"
  exit 0
fi

if [[ ! -r /etc/os-release ]] || ! grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; then
  echo "prerequisites: libstdc++ lacks $need and this is not Debian 12; install a libstdc++ from GCC 13 or newer (docs/native-prerequisites.md)" >&2
  exit 1
fi

# The mirror this machine already uses for bookworm's main component: trixie comes from the same place.
source "$(dirname "$0")/debian-mirror.sh"
mirror=$(debian_mirror bookworm)
if [[ -z "$mirror" ]]; then
  echo "prerequisites: libstdc++ lacks $need and no apt source for bookworm's main component was found to take trixie's libstdc++6 from (docs/native-prerequisites.md)" >&2
  exit 1
fi

echo "prerequisites: adding Debian trixie from $mirror as a pinned-low apt source for libstdc++6"
$sudo tee /etc/apt/sources.list.d/cifar-trixie.sources >/dev/null <<SRC
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
# Pin trixie low (like backports) so bookworm stays the default everywhere, security updates
# included; trixie packages come only when asked for with -t trixie.
$sudo tee /etc/apt/preferences.d/cifar-trixie >/dev/null <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
# A mirror without trixie must not leave a broken apt source behind.
if ! $sudo apt-get update -qq || ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -t trixie libstdc++6 >/dev/null; then
  $sudo rm -f /etc/apt/sources.list.d/cifar-trixie.sources /etc/apt/preferences.d/cifar-trixie
  echo "prerequisites: installing trixie's libstdc++6 from $mirror failed; the trixie source was removed again (docs/native-prerequisites.md)" >&2
  exit 1
fi
$sudo ldconfig

if has_glibcxx; then
  echo "prerequisites: libstdc++ now provides $need"
else
  echo "prerequisites: libstdc++ still lacks $need after the upgrade" >&2
  exit 1
fi
