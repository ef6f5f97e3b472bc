"""Prints the GPU check's table from the files scripts/gpu-check.sh left in OUT.

    python3 scripts/gpu_check_table.py OUT OURS_EXIT_STATUS
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


if __name__ == "__main__":
    main()
