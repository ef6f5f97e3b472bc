#!/usr/bin/env bash
# The GPU check (docs/gpu.md): `seed.json` trained by our app on a CUDA GPU with the machine's own
# PyTorch libtorch, then the tutorial's PyTorch code (bench/pytorch/tutorial.py) on the same GPU and data,
# and one table: epoch times, total wall time, final validation accuracy, GPU, libtorch versions.
#
# Here (any Linux x64 with the .NET SDK; no GPU needed):
#   scripts/gpu-check.sh prepare         build what the device calls carry, under artifacts/gpu-check/:
#                                        bundle.tar.xz  self-contained linux-x64 app, built with TorchBackend=none
#                                                       (no libtorch inside: it loads the machine's), ≈ 41 MB
#                                        data.tar.gz    the CIFAR-10 JPEG tree (../shared/datasets/cifar10-jpeg
#                                                       or $CIFAR10_DATA), ≈ 20 MB (the JPEGs' shared headers compress)
#   scripts/gpu-check.sh bundle DIR      only build the bundle, unpacked into DIR
#   scripts/gpu-check.sh cpu-selftest    the whole comparison on this CPU: the bundle with the NuGet libtorch
#                                        folder, 1 epoch on 2,000/500 images, against tutorial.py on the CPU
#
# On the device machine, one `run` call carrying both archives (≈ 62 MB with the tree, under its 64 MiB):
#   run(command="bash scripts/gpu-check.sh device", timeout_s=600,
#       carry=["artifacts/gpu-check/bundle.tar.xz", "artifacts/gpu-check/data.tar.gz"])
# (`device` = `unpack` then `run`; the two can also be separate calls, each carrying its archive, the second
# at once after the first while the machine is warm.) Results go to $OUT: table.md, ours.log, ours-metrics.json,
# theirs.log, theirs.json (and undefined-symbols.txt when TorchSharp cannot bind to the machine's libtorch).
set -euo pipefail
cd "$(dirname "$0")/.."
work=artifacts/gpu-check
bundle=$work/bundle
# The python that has torch: $PYTHON, else python3 on PATH, else Debian's /usr/bin/python3.
python=${PYTHON:-python3}
if ! "$python" -c 'import torch' 2>/dev/null && [[ -z "${PYTHON:-}" && -x /usr/bin/python3 ]]; then python=/usr/bin/python3; fi

build_bundle() { # DIR
  dotnet publish src/Cifar.Host -c Release -r linux-x64 --self-contained -p:TorchBackend=none \
    --artifacts-path "$work/build" -o "$1" -v q -nologo
}

data_root() {
  local root=${CIFAR10_DATA:-../shared/datasets/cifar10-jpeg}
  [[ -d "$root/train" && -d "$root/test" ]] || { echo "gpu-check: no CIFAR-10 JPEG tree at $root (set CIFAR10_DATA)" >&2; exit 2; }
  echo "$root"
}

torch_lib() { # the machine's PyTorch libtorch folder
  "$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))'
}

# Runs ours then theirs with the given extra arguments and prints the table.
# compare OUT DATA LIBTORCH_DIR DEVICE EPOCHS TRAIN_LIMIT VAL_LIMIT
compare() {
  local out=$1 data=$2 lib=$3 device=$4 epochs=$5 train_limit=$6 val_limit=$7
  mkdir -p "$out"
  # Nothing from an earlier run may pass for this one's.
  rm -rf "$out/ours" "$out"/ours-* "$out"/ours.log "$out"/theirs* "$out/table.md" "$out/undefined-symbols.txt"
  echo "gpu-check: ours (seed.json, $epochs epochs, device $device, libtorch from $lib)"
  local start ours_status=0
  start=$(date +%s%N)
  timeout -k 10 "${OURS_TIMEOUT:-240}" "$bundle/cifar" train --config configs/seed.json --output "$out/ours" \
      "--Data:Root=$data" "--Data:TrainLimit=$train_limit" "--Data:ValidationLimit=$val_limit" \
      "--Training:Epochs=$epochs" "--Training:Device=$device" "--Torch:LibraryPath=$lib" \
      >"$out/ours.log" 2>&1 || ours_status=$?
  echo $(( ($(date +%s%N) - start) / 1000000 )) > "$out/ours-wall-ms.txt"
  cat "$out/ours.log"
  [[ -f "$out/ours/metrics.json" ]] && cp "$out/ours/metrics.json" "$out/ours-metrics.json"
  if (( ours_status != 0 )) && [[ -x "$(command -v ldd)" ]]; then
    # Where exactly TorchSharp's glue and this libtorch disagree: every symbol the dynamic linker cannot bind.
    LD_LIBRARY_PATH=$lib ldd -r "$bundle/libLibTorchSharp.so" 2>&1 | grep 'undefined symbol' > "$out/undefined-symbols.txt" || true
    echo "gpu-check: ours failed (exit $ours_status); $(wc -l < "$out/undefined-symbols.txt") undefined symbols against $lib (undefined-symbols.txt)"
  fi
  echo "gpu-check: theirs (bench/pytorch/tutorial.py, $epochs epochs, device $device)"
  start=$(date +%s%N)
  PYTHONUNBUFFERED=1 timeout -k 10 "${THEIRS_TIMEOUT:-300}" "$python" bench/pytorch/tutorial.py --data "$data" --epochs "$epochs" \
      --train-limit "$train_limit" --val-limit "$val_limit" --device "$device" --json "$out/theirs.json" 2>&1 | tee "$out/theirs.log" || true
  echo $(( ($(date +%s%N) - start) / 1000000 )) > "$out/theirs-wall-ms.txt"
  "$python" scripts/gpu_check_table.py "$out" "$ours_status" | tee "$out/table.md"
}

unpack() {
  rm -rf "$bundle" && mkdir -p "$bundle"
  tar -C "$bundle" -xJf "$work/bundle.tar.xz"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())'
  echo "gpu-check: bundle unpacked ($(du -sh "$bundle" | cut -f1))"
}

run_check() {
  [[ -x "$bundle/cifar" ]] || { echo "gpu-check: no bundle at $bundle (run 'unpack' first, on the same warm machine)" >&2; exit 2; }
  local data=/tmp/cifar10-jpeg lib
  rm -rf "$data" && mkdir -p "$data" && tar -C "$data" -xzf "$work/data.tar.gz"
  lib=$(torch_lib)
  compare "${OUT:-$work/out}" "$data" "$lib" cuda "${EPOCHS:-15}" 0 0
}

case "${1:-}" in
  prepare)
    rm -rf "$bundle" "$work/bundle.tar.xz" "$work/data.tar.gz"
    build_bundle "$bundle"
    tar -C "$bundle" -cJf "$work/bundle.tar.xz" .
    data=$(data_root)
    tar -C "$data" -czf "$work/data.tar.gz" train test
    ls -l "$work"/*.tar.*
    ;;
  bundle)
    build_bundle "${2:?usage: gpu-check.sh bundle DIR}"
    ;;
  device)
    unpack
    run_check
    ;;
  unpack)
    unpack
    ;;
  run)
    run_check
    ;;
  cpu-selftest)
    rm -rf "$bundle" && build_bundle "$bundle"
    lib=$(ls -d "${NUGET_PACKAGES:-$HOME/.nuget/packages}"/libtorch-cpu-linux-x64/2.10.0/runtimes/linux-x64/native)
    data=$(data_root)
    compare "${OUT:-$work/out-cpu}" "$data" "$lib" cpu 1 2000 500
    ;;
  *)
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
