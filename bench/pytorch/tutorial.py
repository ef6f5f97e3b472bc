"""The tutorial's PyTorch code, transcribed as the peer for side-by-side measurements.

Same recipe as configs/seed.json (and configs/seed-augmented.json with --augment): ToTensor +
Normalize(0.5, 0.5), the SeedCnn layers, CrossEntropyLoss, Adam(lr=0.001, weight_decay=5e-4),
batch 32, shuffled training set, the test split as validation set; images decoded and augmented one
by one with PIL in a DataLoader, as the tutorial does. Reads the same JPEG tree (root/{train,test}/<class>/*)
and, with --train-limit/--val-limit, takes the same class-balanced subsets as Cifar's loader (the first
files of each class in ordinal order, the remainder to the first classes).

Other image folders too, with the same network sized from the input, as Cifar trains them: --size WxH
stretches every image to W x H (nearest neighbour, as ML.NET's ResizeImages(Fill) does; default: the first
training image's size, no resizing), --grey trains on one grey channel (PIL's "L", Normalize(0.5, 0.5)),
--classes a,b,c keeps those class folders only (keyed in ordinal order); the class count is the folder's. The
first convolution reads C channels and the head is Linear(128 * (H/8) * (W/8), classes), / rounding down as the
pooling does. Without these options the run is the CIFAR-10 tutorial's, unchanged.

    python3 bench/pytorch/tutorial.py --data ../shared/datasets/cifar10-jpeg --epochs 15 [--augment] [--json out.json]
    python3 bench/pytorch/tutorial.py --data ../shared/datasets/mnist-png --grey --epochs 2
    python3 bench/pytorch/tutorial.py --data ../shared/datasets/cifar10-jpeg --size 48x48 --classes airplane,automobile,bird,cat --epochs 2

Needs torch and torchvision (Debian: apt-get install python3-torch python3-torchvision).
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torchvision.transforms as transforms
from PIL import Image
from torch.utils.data import DataLoader, Subset
from torchvision.datasets import ImageFolder
from torchvision.transforms import InterpolationMode


class ClassSubset(ImageFolder):
    """An ImageFolder of the named class folders only (all when none are named), keyed in ordinal order."""

    def __init__(self, root, transform, keep):
        self.keep = keep
        super().__init__(root, transform)

    def find_classes(self, directory):
        classes, _ = super().find_classes(directory)
        if self.keep:
            unknown = [c for c in self.keep if c not in classes]
            if unknown:
                raise SystemExit(f"{directory}: no class {unknown[0]!r} in {', '.join(classes)}")
            classes = sorted(self.keep)
        return classes, {c: i for i, c in enumerate(classes)}


def balanced(dataset, limit):
    """Cifar's BalancedSubset: limit/classes per class, the remainder to the first classes."""
    if limit <= 0:
        return dataset
    by_class = {}
    for index, (path, label) in enumerate(dataset.samples):
        by_class.setdefault(label, []).append((os.path.basename(path), index))
    classes = sorted(by_class)
    for c in classes:
        by_class[c].sort()
    quota = {c: 0 for c in classes}
    left = limit
    while left > 0 and any(quota[c] < len(by_class[c]) for c in classes):
        for c in classes:
            if left > 0 and quota[c] < len(by_class[c]):
                quota[c] += 1
                left -= 1
    return Subset(dataset, [i for c in classes for _, i in by_class[c][:quota[c]]])


def seed_cnn(channels=3, height=32, width=32, classes=10):
    return nn.Sequential(
        nn.Conv2d(channels, 64, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(128, 256, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(256, 128, kernel_size=3, padding=1), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(128 * (height // 8) * (width // 8), classes))


def validate(model, val_loader, criterion, device):
    """The tutorial's validation loop: mean loss and accuracy, no gradients."""
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in val_loader:
            images, labels = images.to(device), labels.to(device)
            outputs = model(images)
            loss_sum += criterion(outputs, labels).item() * labels.size(0)
            correct += (outputs.argmax(1) == labels).sum().item()
            seen += labels.size(0)
    return loss_sum / seen, correct / seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--train-limit", type=int, default=0)
    parser.add_argument("--val-limit", type=int, default=0)
    parser.add_argument("--augment", action="store_true")
    parser.add_argument("--size", help="WxH: stretch every image to this size (nearest); default: the first image's size")
    parser.add_argument("--grey", action="store_true", help="one grey channel instead of RGB")
    parser.add_argument("--classes", help="comma-separated class folders to keep (default: all)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write per-epoch metrics and timings here")
    parser.add_argument("--eval-only", action="store_true",
                        help="no training: time one pass of the tutorial's validation loop (decode, normalize, "
                             "forward) over the validation set with a fresh network, for prediction throughput")
    args = parser.parse_args()

    started = time.perf_counter()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    keep = args.classes.split(",") if args.classes else None
    channels = 1 if args.grey else 3
    train_folder = ClassSubset(os.path.join(args.data, "train"), None, keep)
    if args.size:
        width, height = (int(v) for v in args.size.lower().split("x"))
    else:
        with Image.open(train_folder.samples[0][0]) as first:
            width, height = first.size
    # Cifar's order: decode as RGB, stretch (ResizeImages Fill: nearest), then grey (ConvertToGrayscale).
    load = ([transforms.Resize((height, width), interpolation=InterpolationMode.NEAREST)] if args.size else []) \
        + ([transforms.Grayscale(1)] if args.grey else [])
    normalize = [transforms.ToTensor(), transforms.Normalize((0.5,) * channels, (0.5,) * channels)]
    augment = [transforms.RandomHorizontalFlip(), transforms.ColorJitter(), transforms.RandomRotation(10)]
    train_folder.transform = transforms.Compose(load + (augment if args.augment else []) + normalize)
    train_set = balanced(train_folder, args.train_limit)
    val_set = balanced(ClassSubset(os.path.join(args.data, "test"), transforms.Compose(load + normalize), keep), args.val_limit)
    classes = len(train_folder.classes)
    print(f"{args.data}: {len(train_set)} training, {len(val_set)} test images of {','.join(train_folder.classes)}, "
          f"{width}x{height} {'grey' if args.grey else 'RGB'}, torch {torch.__version__}, {torch.get_num_threads()} threads",
          flush=True)
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True, num_workers=args.workers)
    val_loader = DataLoader(val_set, batch_size=32, shuffle=False, num_workers=args.workers)

    device = torch.device(args.device)
    model = seed_cnn(channels, height, width, classes).to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, weight_decay=5e-4)

    if args.eval_only:
        clock = time.perf_counter()
        validate(model, val_loader, criterion, device)
        seconds = time.perf_counter() - clock
        result = dict(torch=torch.__version__, device=str(device), val_images=len(val_set), seconds=seconds,
                      images_per_second=len(val_set) / seconds, wall_seconds=time.perf_counter() - started)
        print(f"evaluated {len(val_set)} images in {seconds:.2f}s: {len(val_set) / seconds:.0f} images/s", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
        return 0

    history = []
    for epoch in range(1, args.epochs + 1):
        clock = time.perf_counter()
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * labels.size(0)
            correct += (outputs.argmax(1) == labels).sum().item()
            seen += labels.size(0)
        train_loss, train_acc = loss_sum / seen, correct / seen

        train_seconds = time.perf_counter() - clock
        val_loss, val_acc = validate(model, val_loader, criterion, device)
        seconds = time.perf_counter() - clock
        history.append(dict(epoch=epoch, train_loss=train_loss, train_acc=train_acc,
                            val_loss=val_loss, val_acc=val_acc, seconds=seconds, train_seconds=train_seconds))
        print(f"Epoch {epoch}/{args.epochs}: train loss {train_loss:.4f}, train acc {train_acc:.2%} | "
              f"val loss {val_loss:.4f}, val acc {val_acc:.2%} | {seconds:.1f}s", flush=True)
        # Rewritten after every epoch, so a run stopped by a time limit still leaves what it measured.
        write_result(args, device, train_set, val_set, started, history,
                     dict(width=width, height=height, channels=channels, classes=train_folder.classes))
    return 0


def write_result(args, device, train_set, val_set, started, history, images):
    result = dict(torch=torch.__version__, device=str(device), **images,
                  gpu=torch.cuda.get_device_name(0) if device.type == "cuda" else None,
                  train_images=len(train_set), val_images=len(val_set), augment=args.augment,
                  wall_seconds=time.perf_counter() - started,
                  peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, epochs=history)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
