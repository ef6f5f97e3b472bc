#!/usr/bin/env bash
# Runs every test: installs what the tests need when missing (scripts/install-prerequisites.sh --tests: the
# native prerequisite, the font, chromium, Debian's python3-torch, Node.js and onnxruntime-node), builds the solution in Release with
# warnings as errors, runs the xUnit suites.
# Tests that need real images use $CIFAR10_DATA or ../shared/datasets/cifar10-jpeg.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-prerequisites.sh --tests
dotnet build Cifar.sln -c Release
# A test process that crashes natively leaves a crash report (native and managed stacks) and a small dump
# under TestResults/crash, so a rare crash can be read afterwards instead of only seen.
rm -rf TestResults/crash && mkdir -p TestResults/crash # this run's crashes only
export DOTNET_DbgEnableMiniDump=1 DOTNET_DbgMiniDumpType=1 DOTNET_EnableCrashReport=1 \
  DOTNET_DbgMiniDumpName="$PWD/TestResults/crash/dump.%p"
dotnet test --solution Cifar.sln -c Release --no-build "$@"
