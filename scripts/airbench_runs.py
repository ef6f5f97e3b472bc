"""Runs the reference, airbench94 (legacy, uncompiled; a copy carried to the device, never committed), as its own
__main__ does: one warm-up run on random labels, then RUNS timed runs, each timed by the reference itself with CUDA
events (training plus test-time-augmented evaluation). Writes their accuracies and seconds as JSON.

    python3 scripts/airbench_runs.py AIRBENCH94_PY DATA_DIR RUNS --json OUT [--check]

DATA_DIR holds cifar10/train.pt and test.pt (scripts/airbench_data.py). --check imports the reference and reads the
data without training (the reference needs a CUDA GPU): what the CPU self-test can verify.
"""
import argparse
import importlib.util
import json
import os
import sys

import torch


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
    spec = importlib.util.spec_from_file_location("airbench94", reference)
    airbench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(airbench)
    result = {"reference": os.path.basename(reference), "torch": torch.__version__, "runs": []}
    if args.check:
        train = torch.load(os.path.join("cifar10", "train.pt"))
        result.update(check=True, train_images=len(train["labels"]), epochs=airbench.hyp["opt"]["train_epochs"])
    else:
        result["gpu"] = torch.cuda.get_device_name(0)
        finals = []
        report = airbench.print_training_details

        def capture(variables, is_final_entry):  # the reference's own timing and accuracy of each run
            if is_final_entry:
                finals.append({"seconds": variables["total_time_seconds"], "tta_val_acc": variables["tta_val_acc"]})
            report(variables, is_final_entry)

        airbench.print_training_details = capture
        airbench.print_columns(airbench.logging_columns_list, is_head=True)
        airbench.main("warmup")
        result["warmup"] = finals.pop()
        for run in range(args.runs):
            airbench.main(run)
        result["runs"] = finals
    with open(output, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}))


if __name__ == "__main__":
    main()
