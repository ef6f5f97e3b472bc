"""Prints the torchvision reference values used by tests/Cifar.Trainer.Tests/AugmentationTests.cs.

Run: python3 tests/reference/torchvision_reference.py   (Debian: apt-get install python3-torchvision)
The tests hold the printed numbers as literals, so they run without Python.
"""
import torch
import torchvision
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode


def show(name, t):
    flat = ", ".join(f"{v:.6f}f" for v in t.flatten().tolist())
    print(f"// {name}: shape {list(t.shape)}\n{{ {flat} }}\n")


print(f"// torch {torch.__version__}, torchvision {torchvision.__version__}")
small = torch.arange(1, 17, dtype=torch.float32).view(1, 4, 4)
show("rotate 4x4 by 90 (nearest, fill 0)", F.rotate(small, 90.0, InterpolationMode.NEAREST, fill=[0.0]))
image8 = torch.arange(1, 65, dtype=torch.float32).view(1, 8, 8)
show("rotate 8x8 by 10", F.rotate(image8, 10.0, InterpolationMode.NEAREST, fill=[0.0]))
show("rotate 8x8 by -10", F.rotate(image8, -10.0, InterpolationMode.NEAREST, fill=[0.0]))

rgb = torch.tensor([[[0.2, 0.9], [0.5, 0.0]],
                    [[0.4, 0.1], [0.5, 1.0]],
                    [[0.6, 0.3], [0.5, 0.25]]], dtype=torch.float32)
show("brightness 1.5", F.adjust_brightness(rgb, 1.5))
show("contrast 0.5", F.adjust_contrast(rgb, 0.5))
show("saturation 0.3", F.adjust_saturation(rgb, 0.3))
show("hue +0.25", F.adjust_hue(rgb, 0.25))
show("hue -0.4", F.adjust_hue(rgb, -0.4))
