"""Prints the GPU check's table from the files scripts/gpu-check.sh left in OUT.

    python3 scripts/gpu_check_table.py OUT OURS_EXIT_STATUS     the tutorial check (seed.json against tutorial.py)
    python3 scripts/gpu_check_table.py --fast OUT               the fast check (fast.json seeds against airbench94)
"""
import json
import os
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
    """One row per run of ours (fast.json, one process per seed) and of the reference, then the means."""
    rows, ours_acc, ours_train = [], [], []
    for seed_dir in sorted(d for d in os.listdir(out) if d.startswith("ours-fast-seed") and os.path.isdir(os.path.join(out, d))):
        seed = seed_dir[len("ours-fast-seed"):]
        evaluation = read_json(os.path.join(out, seed_dir, "evaluation.json"))
        metrics = read_json(os.path.join(out, seed_dir, "metrics.json"))
        wall = wall_seconds(out, seed_dir)
        train = sum(e["train_seconds"] for e in metrics["epochs"]) if metrics else None
        if evaluation:
            ours_acc.append(evaluation["accuracy"])
        if train is not None:
            ours_train.append(train)
        rows.append((f"ours, seed {seed}", f"{evaluation['accuracy']:.2%}" if evaluation else "failed",
                     f"{train:.2f} s training (epochs 1-{len(metrics['epochs'])})" if train is not None else "?",
                     f"{wall:.1f} s" if wall is not None else "?"))
    theirs = read_json(os.path.join(out, "theirs-fast.json")) or {"runs": []}
    for i, run in enumerate(theirs["runs"]):
        rows.append((f"airbench94, run {i + 1}", f"{run['tta_val_acc']:.2%}", f"{run['seconds']:.2f} s training + TTA evaluation", ""))
    print(f"| run | TTA validation accuracy | time (device) | whole process |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    mean, std = mean_and_std(ours_acc)
    if mean is not None:
        print(f"\nours: {len(ours_acc)} runs, mean {mean:.2%} (std {std:.2%}), mean training {sum(ours_train) / len(ours_train):.2f} s")
    mean, std = mean_and_std([r["tta_val_acc"] for r in theirs["runs"]])
    if mean is not None:
        seconds = [r["seconds"] for r in theirs["runs"]]
        print(f"airbench94: {len(seconds)} runs, mean {mean:.2%} (std {std:.2%}), {min(seconds):.2f}-{max(seconds):.2f} s per run"
              f" on {theirs.get('gpu', '?')}, torch {theirs.get('torch', '?')}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--fast":
        fast(sys.argv[2])
    else:
        main()
