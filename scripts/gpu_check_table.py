"""Prints the GPU check's table from the files scripts/gpu-check.sh left in OUT.

    python3 scripts/gpu_check_table.py OUT OURS_EXIT_STATUS     the tutorial check (seed.json against tutorial.py)
    python3 scripts/gpu_check_table.py --fast OUT               the fast check (the fast configs' seeds against airbench94 and airbench94_muon)
"""
import json
import os
import re
import sys


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def wall_seconds(out, who):
    """The whole process's wall time, start-up included, as gpu-check.sh measured it."""
    path = os.path.join(out, f"{who}-wall-ms.txt")
    return int(open(path).read().strip()) / 1000 if os.path.exists(path) else None


def main():
    out, ours_status = sys.argv[1], int(sys.argv[2])
    ours = read_json(os.path.join(out, "ours-metrics.json"))
    theirs = read_json(os.path.join(out, "theirs.json"))
    log = open(os.path.join(out, "ours.log")).read() if os.path.exists(os.path.join(out, "ours.log")) else ""
    libtorch = next((line for line in log.splitlines() if line.startswith("libtorch ")), "?")
    error = next((line for line in reversed(log.splitlines()) if line.startswith("error:")), None)

    ours_epochs = ours["epochs"] if ours else []
    theirs_epochs = theirs["epochs"] if theirs else []
    ours_wall = wall_seconds(out, "ours")
    theirs_wall = wall_seconds(out, "theirs")

    print("| | ours: ./cifar train, TorchSharp | tutorial.py, PyTorch |")
    print("|---|---|---|")
    print(f"| device | {ours['run']['device'] if ours else '?'} | {(theirs or {}).get('gpu') or (theirs or {}).get('device', '?')} |")
    print(f"| libtorch | {libtorch} | torch {(theirs or {}).get('torch', '?')} |")
    for i in range(max(len(ours_epochs), len(theirs_epochs))):
        a = f"{ours_epochs[i]['seconds']:.1f} s" if i < len(ours_epochs) else ""
        b = f"{theirs_epochs[i]['seconds']:.1f} s" if i < len(theirs_epochs) else ""
        print(f"| epoch {i + 1} | {a} | {b} |")
    print(f"| total wall (process) | {ours_wall:.1f} s |" if ours_wall is not None else "| total wall (process) | ? |", end="")
    print(f" {theirs_wall:.1f} s |" if theirs_wall is not None else " ? |")
    a = ours_epochs[-1]["val_acc"] if ours_epochs else None
    b = theirs_epochs[-1]["val_acc"] if theirs_epochs else None
    print(f"| final validation accuracy | {a:.2%} | " if a is not None else "| final validation accuracy | ? | ", end="")
    print(f"{b:.2%} |" if b is not None else "? |")
    if ours_status != 0:
        print(f"\nours failed (exit {ours_status}): {error or 'see ours.log'}")
    if ours_wall and theirs_wall and ours_status == 0:
        print(f"\nwall ours/theirs {ours_wall / theirs_wall:.3f} (target <= 0.2)", end="")
        if a is not None and b is not None:
            print(f"; validation accuracy difference {abs(a - b) * 100:.2f} points (target <= 1)")
        else:
            print()


def mean_and_std(values):
    if not values:
        return None, None
    mean = sum(values) / len(values)
    return mean, (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5


def fast(out):
    """One row per run of ours (one process per config and seed) and of the reference, then the means per config."""
    rows, ours = [], {}  # ours: config name -> (accuracies, training seconds)
    runs = [m for m in (re.fullmatch(r"ours-(.+)-seed(\d+)", d) for d in os.listdir(out)) if m and os.path.isdir(os.path.join(out, m.group(0)))]
    for run in sorted(runs, key=lambda m: (m.group(1), int(m.group(2)))):
        run_dir, config, seed = run.group(0), run.group(1), run.group(2)
        evaluation = read_json(os.path.join(out, run_dir, "evaluation.json"))
        metrics = read_json(os.path.join(out, run_dir, "metrics.json"))
        wall = wall_seconds(out, run_dir)
        train = sum(e["train_seconds"] for e in metrics["epochs"]) if metrics else None
        accuracies, seconds = ours.setdefault(config, ([], []))
        if evaluation:
            accuracies.append(evaluation["accuracy"])
        if train is not None:
            seconds.append(train)
        rows.append((f"ours, {config}.json, seed {seed}", f"{evaluation['accuracy']:.2%}" if evaluation else "failed",
                     f"{train:.2f} s training (epochs 1-{len(metrics['epochs'])})" if train is not None else "?",
                     f"{wall:.1f} s" if wall is not None else "?"))
    references = {name[len("theirs-"):-len(".json")]: read_json(os.path.join(out, name)) or {"runs": []}
                  for name in sorted(os.listdir(out)) if name.startswith("theirs-") and name.endswith(".json")}
    for reference, theirs in references.items():
        for i, run in enumerate(theirs["runs"]):
            rows.append((f"{reference}, run {i + 1}", f"{run['tta_val_acc']:.2%}", f"{run['seconds']:.2f} s training + TTA evaluation", ""))
    print(f"| run | TTA validation accuracy | time (device) | whole process |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    for config, (accuracies, seconds) in ours.items():
        mean, std = mean_and_std(accuracies)
        if mean is not None:
            print(f"ours, {config}.json: {len(accuracies)} runs, mean {mean:.2%} (std {std:.2%}), mean training {sum(seconds) / len(seconds):.2f} s")
    for reference, theirs in references.items():
        mean, std = mean_and_std([r["tta_val_acc"] for r in theirs["runs"]])
        if mean is not None:
            seconds = [r["seconds"] for r in theirs["runs"]]
            warmup = theirs.get("warmup", {}).get("wall_seconds")
            print(f"{reference}: {len(seconds)} runs, mean {mean:.2%} (std {std:.2%}), {min(seconds):.2f}-{max(seconds):.2f} s per run"
                  f" on {theirs.get('gpu', '?')}, torch {theirs.get('torch', '?')}"
                  + (f"; warm-up run {warmup:.1f} s (set-up and any compilation included)" if warmup is not None else ""))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--fast":
        fast(sys.argv[2])
    else:
        main()
