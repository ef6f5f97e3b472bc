#!/usr/bin/env bash
# The GPU check (docs/gpu.md): `seed.json` trained by our app on a CUDA GPU with the machine's own
# PyTorch libtorch, then the tutorial's PyTorch code (bench/pytorch/tutorial.py) on the same GPU and data,
# and one table: epoch times, total wall time, final validation accuracy, GPU, libtorch versions.
#
# Here (any Linux x64 with the .NET SDK; no GPU needed):
#   scripts/gpu-check.sh prepare         build what the device calls carry, under artifacts/gpu-check/:
#                                        bundle.tar.xz  self-contained linux-x64 app, built with TorchBackend=none
#                                                       (no libtorch inside: it loads the machine's), ≈ 50 MB
#                                        data.tar.gz    the CIFAR-10 JPEG tree (../shared/datasets/cifar10-jpeg
#                                                       or $CIFAR10_DATA), ≈ 20 MB (the JPEGs' shared headers compress)
#   scripts/gpu-check.sh bundle DIR      only build the bundle, unpacked into DIR
#   scripts/gpu-check.sh cpu-selftest    the whole comparison on this CPU: the bundle with the NuGet libtorch
#                                        folder, 1 epoch on 2,000/500 images, against tutorial.py on the CPU
#   AIRBENCH94=PATH scripts/gpu-check.sh prepare
#                                        also carry the reference for the fast check: legacy/airbench94.py from a
#                                        clone of the public KellerJordan/cifar10-airbench (copied to
#                                        artifacts/gpu-check/airbench94.py, never committed); copy its
#                                        airbench94_muon.py there too to run it as a second reference
#   scripts/gpu-check.sh fast-cpu-selftest
#                                        the fast check on this CPU: each config 1 epoch on 2,000/500 images, the
#                                        data converted for the references and each imported (they need CUDA to run)
#
# On the device machine: the two archives together (≈ 70 MB) are over the 64 MiB one call carries, so `unpack`
# carrying the bundle, then at once, while the machine is warm, `run` carrying the data:
#   run(command="bash scripts/gpu-check.sh unpack", timeout_s=120, carry=["artifacts/gpu-check/bundle.tar.xz"])
#   run(command="bash scripts/gpu-check.sh run", timeout_s=600, carry=["artifacts/gpu-check/data.tar.gz"])
# (`device` = `unpack` then `run`; the two can also be separate calls, each carrying its archive, the second
# at once after the first while the machine is warm.) Results go to $OUT: table.md, ours.log, ours-metrics.json,
# theirs.log, theirs.json (and undefined-symbols.txt when TorchSharp cannot bind to the machine's libtorch).
#
# The fast check (docs/gpu.md): the bundle and the data together are over what one call carries (64 MiB), so
# `unpack` carrying the bundle, then at once, while the machine is warm, `fast-run` carrying the data and the
# references (`fast-device` = both in one call, where they fit):
#   run(command="bash scripts/gpu-check.sh unpack", timeout_s=120, carry=["artifacts/gpu-check/bundle.tar.xz"])
#   run(command="FAST_CONFIGS='configs/fast.json configs/fast-muon.json' SEEDS=2 RUNS=3 bash scripts/gpu-check.sh fast-run",
#       timeout_s=600, carry=["artifacts/gpu-check/data.tar.gz", "artifacts/gpu-check/airbench94.py",
#                             "artifacts/gpu-check/airbench94_muon.py"])
# ours: `cifar train --config CONFIG` for each of FAST_CONFIGS (default configs/fast.json) and SEEDS seeds from
# FIRST_SEED (default 1), each process timed whole, training seconds from its metrics; then each reference carried
# (airbench94.py, and airbench94_muon.py when present): a warm-up run and RUNS runs in one process, timed by its CUDA
# events. Results in $OUT, written again after every run: fast-table.md, ours-fast.tar.gz (per run: log, metrics.json,
# evaluation.json, config.json), theirs-NAME.json and theirs-NAME.log per reference. Worst case
# configs × SEEDS × OURS_TIMEOUT (120 s) + references × THEIRS_TIMEOUT (300 s): keep it inside one call.
set -euo pipefail
# A reference path given relative to where the script was called from, before moving to the repository root.
if [[ -n "${AIRBENCH94:-}" ]]; then AIRBENCH94=$(realpath "$AIRBENCH94"); fi
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

# The fast recipes: ours once per config and seed, then each reference in one process on the same images. Everything
# is written under a scratch folder; OUT receives at most six files (a device call returns at most 8): fast-table.md,
# ours-fast.tar.gz (each run's log, metrics.json, evaluation.json and config.json), and theirs-NAME.json and .log
# per reference.
# They are written again after every run, so a call cut short by its time limit still returns the runs that finished.
# compare_fast OUT DATA LIBTORCH_DIR DEVICE SEEDS RUNS [extra train arguments...]
compare_fast() {
  local final=$1 data=$2 lib=$3 device=$4 seeds=$5 runs=$6
  shift 6
  local out name configs=${FAST_CONFIGS:-${FAST_CONFIG:-configs/fast.json}}
  out=$(mktemp -d /tmp/gpu-check-fast.XXXXXX)
  mkdir -p "$final"
  final=$(realpath "$final") # the archive is written from inside the scratch folder
  rm -f "$final/fast-table.md" "$final/ours-fast.tar.gz" "$final"/theirs-* # nothing from an earlier call passes for this one's
  for config in $configs; do
    name=ours-$(basename "$config" .json)
    for seed in $(seq "${FIRST_SEED:-1}" $(( ${FIRST_SEED:-1} + seeds - 1 ))); do
      echo "gpu-check: ours ($config, seed $seed, device $device)"
      local start status=0
      start=$(date +%s%N)
      timeout -k 10 "${OURS_TIMEOUT:-120}" "$bundle/cifar" train --config "$config" --output "$out/$name-seed$seed" \
          "--Data:Root=$data" "--Training:Seed=$seed" "--Training:Device=$device" "--Torch:LibraryPath=$lib" "$@" \
          >"$out/$name-seed$seed.log" 2>&1 || status=$?
      echo $(( ($(date +%s%N) - start) / 1000000 )) > "$out/$name-seed$seed-wall-ms.txt"
      tail -n 3 "$out/$name-seed$seed.log"
      (( status == 0 )) || echo "gpu-check: ours failed for $config seed $seed (exit $status; $name-seed$seed.log)"
      publish_fast "$out" "$final" >/dev/null || true # a table that fails must not stop the runs still to come
    done
  done
  echo "gpu-check: converting the images for the reference"
  "$python" scripts/airbench_data.py "$data" "$out/airbench-data/cifar10" "${AIRBENCH_LIMITS[@]}"
  local check=() reference
  [[ $device == cuda ]] || check=(--check)
  for reference in "$work"/airbench94.py "$work"/airbench94_muon.py; do
    [[ -f $reference ]] || continue
    name=$(basename "$reference" .py)
    echo "gpu-check: theirs ($name, warm-up + $runs runs${check:+; import and data check only: it needs CUDA})"
    PYTHONUNBUFFERED=1 timeout -k 10 "${THEIRS_TIMEOUT:-300}" "$python" scripts/airbench_runs.py "$reference" \
        "$out/airbench-data" "$runs" --json "$out/theirs-$name.json" "${check[@]}" 2>&1 | tee "$out/theirs-$name.log" || true
    publish_fast "$out" "$final" >/dev/null || true
  done
  rm -rf "$out/airbench-data"
  publish_fast "$out" "$final"
  rm -rf "$out"
}

# publish_fast SCRATCH FINAL: the table and the archives from what has finished so far.
publish_fast() {
  local out=$1 final=$2
  "$python" scripts/gpu_check_table.py --fast "$out" | tee "$final/fast-table.md"
  cp "$out"/theirs-*.json "$out"/theirs-*.log "$final"/ 2>/dev/null || true
  (cd "$out" && tar -czf "$final/ours-fast.tar.gz" ./*.log ./*-wall-ms.txt ./ours-*-seed*/{metrics.json,evaluation.json,config.json} 2>/dev/null) || true
}

need_reference() {
  [[ -f "$work/airbench94.py" ]] || { echo "gpu-check: no $work/airbench94.py (run AIRBENCH94=PATH scripts/gpu-check.sh prepare)" >&2; exit 2; }
}

unpack() {
  rm -rf "$bundle" && mkdir -p "$bundle"
  tar -C "$bundle" -xJf "$work/bundle.tar.xz"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())'
  echo "gpu-check: bundle unpacked ($(du -sh "$bundle" | cut -f1))"
}

# On the device machine, before either check: the bundle unpacked (by `unpack`) and the data unpacked into $device_data.
device_data=/tmp/cifar10-jpeg
unpack_data() {
  [[ -x "$bundle/cifar" ]] || { echo "gpu-check: no bundle at $bundle (run 'unpack' first, on the same warm machine)" >&2; exit 2; }
  rm -rf "$device_data" && mkdir -p "$device_data" && tar -C "$device_data" -xzf "$work/data.tar.gz"
}

run_check() {
  unpack_data
  compare "${OUT:-$work/out}" "$device_data" "$(torch_lib)" cuda "${EPOCHS:-15}" 0 0
}

run_fast() {
  unpack_data
  AIRBENCH_LIMITS=()
  compare_fast "${OUT:-$work/out}" "$device_data" "$(torch_lib)" cuda "${SEEDS:-3}" "${RUNS:-5}"
}

case "${1:-}" in
  prepare)
    rm -rf "$bundle" "$work/bundle.tar.xz" "$work/data.tar.gz"
    build_bundle "$bundle"
    tar -C "$bundle" -cJf "$work/bundle.tar.xz" .
    data=$(data_root)
    tar -C "$data" -czf "$work/data.tar.gz" train test
    if [[ -n "${AIRBENCH94:-}" ]]; then cp "$AIRBENCH94" "$work/airbench94.py"; fi
    ls -l "$work"/*.tar.* "$work"/airbench94*.py 2>/dev/null || true
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
  fast-device)
    need_reference
    unpack
    run_fast
    ;;
  fast-run)
    need_reference
    run_fast
    ;;
  fast-cpu-selftest)
    need_reference
    rm -rf "$bundle" && build_bundle "$bundle"
    lib=$(ls -d "${NUGET_PACKAGES:-$HOME/.nuget/packages}"/libtorch-cpu-linux-x64/2.10.0/runtimes/linux-x64/native)
    AIRBENCH_LIMITS=(--limit-train 2000 --limit-test 500)
    compare_fast "${OUT:-$work/out-cpu}" "$(data_root)" "$lib" cpu 1 1 \
      --Data:TrainLimit=2000 --Data:ValidationLimit=500 --Training:Epochs=1 --Training:BatchSize=256
    ;;
  cpu-selftest)
    rm -rf "$bundle" && build_bundle "$bundle"
    lib=$(ls -d "${NUGET_PACKAGES:-$HOME/.nuget/packages}"/libtorch-cpu-linux-x64/2.10.0/runtimes/linux-x64/native)
    data=$(data_root)
    compare "${OUT:-$work/out-cpu}" "$data" "$lib" cpu 1 2000 500
    ;;
  *)
    sed -n '2,44p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
