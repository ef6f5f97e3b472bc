"""Runs a reference as its own __main__ does (a copy carried to the device, never committed): airbench94 (legacy,
uncompiled: one warm-up run on random labels) or airbench94_muon (its network built once, compiled with
torch.compile mode "max-autotune" and reused, one warm-up run), then RUNS timed runs, each timed by the reference
itself with CUDA events (training plus test-time-augmented evaluation). Writes their accuracies and seconds as JSON.

    python3 scripts/airbench_runs.py AIRBENCH94_PY DATA_DIR RUNS --json OUT [--check]

DATA_DIR holds cifar10/train.pt and test.pt (scripts/airbench_data.py). --check imports the reference and reads the
data without training (the reference needs a CUDA GPU): what the CPU self-test can verify.
"""
import argparse
import importlib.util
import json
import os
import inspect
import sys
import time

import torch


def write(path, result):
    with open(path, "w") as f:
        json.dump(result, f, indent=2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("reference")
    parser.add_argument("data")
    parser.add_argument("runs", type=int)
    parser.add_argument("--json", required=True)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    reference = os.path.abspath(args.reference)
    output = os.path.abspath(args.json)  # before moving into the data folder
    os.chdir(args.data)  # the reference reads ./cifar10/{train,test}.pt
    sys.argv = [reference]  # it records its own source from argv[0]
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(reference))[0], reference)
    airbench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(airbench)
    result = {"reference": os.path.basename(reference), "torch": torch.__version__, "runs": []}
    if args.check:
        train = torch.load(os.path.join("cifar10", "train.pt"))
        result.update(check=True, train_images=len(train["labels"]))
    else:
        result["gpu"] = torch.cuda.get_device_name(0)
        finals = []
        report = airbench.print_training_details

        def capture(variables, is_final_entry):  # the reference's own timing and accuracy of each run
            if is_final_entry:
                seconds = variables.get("total_time_seconds", variables.get("time_seconds"))
                finals.append({"seconds": seconds, "tta_val_acc": variables["tta_val_acc"]})
            report(variables, is_final_entry)

        airbench.print_training_details = capture
        run = airbench.main
        if len(inspect.signature(airbench.main).parameters) == 2:  # airbench94_muon: one compiled network for all runs
            model = airbench.CifarNet().cuda().to(memory_format=torch.channels_last)
            model.compile(mode="max-autotune")
            run = lambda name: airbench.main(name, model)
        airbench.print_columns(airbench.logging_columns_list, is_head=True)
        start = time.perf_counter()
        run("warmup")
        result["warmup"] = finals.pop()
        result["warmup"]["wall_seconds"] = time.perf_counter() - start  # compilation included, where there is one
        result["runs"] = finals
        for i in range(args.runs):
            write(output, result)  # what has finished, should the time limit stop the next run
            run(i)
    write(output, result)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}))


if __name__ == "__main__":
    main()
