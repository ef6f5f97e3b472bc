"""Converts the CIFAR-10 JPEG tree into the tensor files airbench94 reads (cifar10/train.pt, test.pt), so the reference
trains on exactly the images ours does. Used by scripts/gpu-check.sh; nothing of the reference is kept in this repository.

    python3 scripts/airbench_data.py JPEG_ROOT OUT_DIR [--limit-train N] [--limit-test N]

Each file holds {'images': uint8 [N, 32, 32, 3], 'labels': int64 [N], 'classes': [names]}; classes are the tree's
folder names in sorted order (the official order), images in sorted file order per class.
"""
import argparse
import os

import numpy as np
import torch

try:
    from PIL import Image
except ImportError:  # a machine with torchvision but no Pillow decodes with torchvision
    Image = None


def decode(path):
    """One image as uint8 [32, 32, 3] RGB."""
    if Image is not None:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    import torchvision.io
    return torchvision.io.read_image(path, torchvision.io.ImageReadMode.RGB).permute(1, 2, 0).numpy()


def convert(root, split, limit):
    classes = sorted(d for d in os.listdir(os.path.join(root, split)) if os.path.isdir(os.path.join(root, split, d)))
    per_class = (limit // len(classes)) if limit else None
    images, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(root, split, name)
        for file in sorted(os.listdir(folder))[:per_class]:
            images.append(decode(os.path.join(folder, file)))
            labels.append(label)
    return {"images": torch.from_numpy(np.stack(images)), "labels": torch.tensor(labels, dtype=torch.int64), "classes": classes}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("out")
    parser.add_argument("--limit-train", type=int, default=0)
    parser.add_argument("--limit-test", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for split, file, limit in (("train", "train.pt", args.limit_train), ("test", "test.pt", args.limit_test)):
        data = convert(args.root, split, limit)
        assert data["images"].shape[1:] == (32, 32, 3), f"{split}: images are {tuple(data['images'].shape[1:])}, not 32x32 RGB"
        torch.save(data, os.path.join(args.out, file))
        print(f"airbench data: {split} {len(data['labels'])} images -> {os.path.join(args.out, file)}")


if __name__ == "__main__":
    main()
