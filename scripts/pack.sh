#!/usr/bin/env bash
# Packs the NuGet packages into artifacts/packages (docs/packages.md): the libraries Cifar.Trainer and
# Cifar.MLNet, and the app as the .NET tool Cifar.Tool (command cifar), built without libtorch
# (TorchBackend=none). Builds in a folder of its own, so the repository's bin/ and obj/ are left as they are.
#   scripts/pack.sh [--output DIR] [--version VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
output=artifacts/packages
version=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --output) output=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    *) echo "pack: unknown argument $1 (usage: scripts/pack.sh [--output DIR] [--version VERSION])" >&2; exit 2 ;;
  esac
done
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
# Packed into a folder of this run first, then moved to $output: what is listed is what this run wrote, not
# packages of other versions left there before.
packed="$build/packages"
# The same global properties for every project, so that each is built once.
properties=(-c Release -p:TorchBackend=none -p:ContinuousIntegrationBuild=true --artifacts-path "$build" -o "$packed" -v q -nologo)
[[ -n "$version" ]] && properties+=(-p:Version="$version")
for project in src/Cifar.Trainer src/Cifar.MLNet src/Cifar.Host; do
  dotnet pack "$project" "${properties[@]}"
done
mkdir -p "$output"
for package in "$packed"/*; do
  mv -f "$package" "$output/"
  if [[ "$package" == *.nupkg ]]; then echo "$output/$(basename "$package")"; fi
done
