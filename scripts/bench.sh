#!/usr/bin/env bash
# Runs the performance benchmark (docs/performance.md): installs the prerequisites and the PyTorch
# peer (Debian's python3-torch, python3-torchvision) when missing, builds the solution in Release,
# then prints the side-by-side table. About 14 minutes on 2 cores; the machine should be otherwise idle.
#   ./scripts/bench.sh [--data DIR] [--pairs N] [--memory-epochs N] [--long-epochs N] [--json FILE]
# Data: --data, $CIFAR10_DATA or ../shared/datasets/cifar10-jpeg (the JPEG tree).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-prerequisites.sh
if ! /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then
  echo "bench: installing the PyTorch peer (python3-torch, python3-torchvision)"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-torch python3-torchvision >/dev/null
fi
dotnet build Cifar.sln -c Release -v q -nologo
dotnet bench/Cifar.Bench/bin/Release/net10.0/Cifar.Bench.dll all "$@"
