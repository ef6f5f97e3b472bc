#!/usr/bin/env bash
# Runs every test: installs the native prerequisite when missing (scripts/install-prerequisites.sh),
# builds the solution in Release with warnings as errors, runs the xUnit suites.
# Tests that need real images use $CIFAR10_DATA or ../shared/datasets/cifar10-jpeg.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-prerequisites.sh
dotnet build Cifar.sln -c Release
dotnet test --solution Cifar.sln -c Release --no-build "$@"
