"""Prints the Muon reference values used by tests/Cifar.Trainer.Tests/MuonTests.cs.

Run: /usr/bin/python3 tests/reference/muon_reference.py   (numpy only)
Two Muon steps on one 3x2x2x2 convolution weight, written from airbench94_muon's definition (KellerJordan/cifar10-airbench,
airbench94_muon.py) as a direct float64 computation: Nesterov momentum, the weight rescaled to Frobenius norm
sqrt(filters), Newton-Schulz's quintic iteration (a, b, c) = (3.4445, -4.7750, 2.0315) on the update as a 3x8 matrix.
The tests hold the printed numbers as literals, so they run without Python.
"""
import numpy as np

A, B, C = 3.4445, -4.7750, 2.0315
LR, MOMENTUM, ITERATIONS = 0.24, 0.6, 3


def newton_schulz(m, iterations=ITERATIONS):
    x = m / (np.linalg.norm(m) + 1e-7)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    for _ in range(iterations):
        a = x @ x.T
        x = A * x + (B * a + (C * a) @ a) @ x
    return x.T if tall else x


def values(multiplier, modulus, offset, scale):
    return np.array([((k * multiplier) % modulus - offset) / scale for k in range(24)], dtype=np.float64).reshape(3, 2, 2, 2)


def show(name, t):
    print(f"// {name}\n{{ {', '.join(f'{v:.9g}' for v in np.asarray(t, dtype=np.float64).flatten())} }}\n")


weight = values(7, 11, 5, 4.0)
gradients = [values(5, 13, 6, 8.0), values(3, 7, 3, 5.0)]
factors = [1.0, 0.5]
buffer = None
for step, (g, factor) in enumerate(zip(gradients, factors), 1):
    buffer = g.copy() if buffer is None else MOMENTUM * buffer + g
    direction = g + MOMENTUM * buffer
    weight = weight * (np.sqrt(weight.shape[0]) / np.linalg.norm(weight))
    weight = weight - LR * factor * newton_schulz(direction.reshape(3, -1)).reshape(weight.shape)
    show(f"weight after step {step} (schedule factor {factor})", weight)

direction = gradients[0] * (1 + MOMENTUM)  # the first step's direction
show("Newton-Schulz of the first direction, float64", newton_schulz(direction.reshape(3, -1)))


def bf16(x):
    """float32 values rounded to the nearest bfloat16 (ties to even), kept as float32."""
    bits = np.atleast_1d(np.asarray(x, dtype=np.float32)).view(np.uint32).astype(np.uint64)
    u = np.uint64
    bits = (bits + u(0x7FFF) + ((bits >> u(16)) & u(1))) & u(0xFFFF0000)
    return bits.astype(np.uint32).view(np.float32).reshape(np.shape(x))


# In bfloat16 as airbench94_muon computes it on a GPU: every operation's result rounded to bfloat16, a matrix product's
# sums taken in float32 first (as cuBLAS and current CPU kernels do; PyTorch 1.13's CPU kernel sums in bfloat16 and lands
# up to 0.03 away).
f32 = np.float32
x = bf16(direction.reshape(3, -1))
x = bf16(x / bf16(bf16(np.sqrt((x * x).sum(dtype=np.float32))) + f32(1e-7)))
for _ in range(ITERATIONS):
    a = bf16(x @ x.T)
    b = bf16(bf16(f32(B) * a) + bf16(bf16(f32(C) * a) @ a))
    x = bf16(bf16(f32(A) * x) + bf16(b @ x))
show("Newton-Schulz of the first direction, bfloat16 operation by operation", x)
