"""The fast recipe's training step in PyTorch 2.x: the peer of `Cifar.Bench fast-step` (bench/Cifar.Bench/FastStepBenchmark.cs).

A transcription of what CnnTrainer does per batch with configs/fast.json (docs/fast.md): AirbenchNet (2x2 patch
whitening + GELU, three conv/pool/BatchNorm/GELU blocks of 64, 256, 256 channels, 3x3 max-pool, linear head x 1/9),
channels_last; the images gathered as bytes, scaled to [0, 1], flipped per image, translated by up to 2 pixels with
reflect padding and normalized, every step; the passes in float32, or in bfloat16 on a working copy of the network
whose BatchNorm layers stay float32 (weights copied in before, float32 gradients and statistics copied back after);
cross-entropy with label smoothing 0.2 (mean); Nesterov SGD (lr 1.5, momentum 0.85, weight decay 0.0013304, BatchNorm
shifts 64x the learning rate and 1/64 of the decay) on the float32 weights; lookahead every 5 steps. Random images
and labels; one warm-up step, then STEPS timed ones. Prints what `Cifar.Bench fast-step` prints:

    PRECISION: N ms per step, N images/s, N ms processor time per step

(processor time: all the process's threads together; on a machine shared with other work it moves less than the
wall time, which counts the waits for a core).

With --profile, also where the step's time goes: each phase's mean per timed step, and each layer's forward and
backward pass timed alone on its real input (best of 3), with its arithmetic rate.

With --reference FILE (or AIRBENCH94=FILE in the environment and --reference alone) the step is airbench94's own
instead, built from that file's parts (make_net, init_whitening_conv, batch_flip_lr, batch_crop, LookaheadState, its
hyperparameters and optimizer groups, its summed loss): on the CPU, its .cuda() a no-op and its .half() the chosen
precision. The file is never part of this repository (public repository KellerJordan/cifar10-airbench,
legacy/airbench94.py).

    scripts/pytorch-peer.sh run bench/pytorch/fast_step.py [Float32|BFloat16|Auto] [STEPS] [--profile]
        [--layout channels_last|contiguous] [--pad-channels [N]] [--reference [FILE]]

With --pad-channels every convolution pads both channel counts with zeros to multiples of N (16) and cuts its output back,
as the trainer does where oneDNN's kernels for channel counts that are not whole vectors give wrong results
(src/Cifar.Trainer/Native/ChannelPadding.cs: processors that describe no caches; AirbenchNet's 3 and 24 channels): the same values, so PyTorch's AVX-512
step can be timed where it would otherwise compute wrongly.

The threads are PyTorch's choice (one per core), or OMP_NUM_THREADS as for `Cifar.Bench fast-step`. Auto is float32 unless /proc/cpuinfo lists avx512_bf16 or amx_bf16, as the trainer's Auto on a CPU.
"""
import argparse
import copy
import importlib.util
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 1024
EPOCHS = 10
TRAIN_IMAGES = 50_000
STEPS_PER_EPOCH = math.ceil(TRAIN_IMAGES / BATCH)
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
# configs/fast.json's Training section.
LEARNING_RATE, MOMENTUM, WEIGHT_DECAY = 1.5, 0.85, 0.0013304
BATCH_NORM_BIAS_SCALE = 64
LABEL_SMOOTHING = 0.2
WARMUP_FRACTION, START_FACTOR, END_FACTOR = 0.23, 0.2, 0.07
LOOKAHEAD_INTERVAL = 5
TRANSLATE = 2


def native_bfloat16():
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pass_type(precision):
    precision = precision.lower()
    if precision == "auto":
        return torch.bfloat16 if native_bfloat16() else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[precision]


# ---- the network, as src/Cifar.Trainer/Networks/AirbenchNet.cs defines it ----

class PaddedConv2d(nn.Conv2d):
    """nn.Conv2d with both channel counts padded with zeros to multiples of `multiple` (--pad-channels), the output cut back."""

    def __init__(self, *args, multiple, **kwargs):
        super().__init__(*args, **kwargs)
        self.multiple = multiple

    def forward(self, x):
        extra_filters, extra_channels = (-self.out_channels) % self.multiple, (-self.in_channels) % self.multiple
        if extra_filters == 0 and extra_channels == 0:
            return super().forward(x)
        weight = F.pad(self.weight, (0, 0, 0, 0, 0, extra_channels, 0, extra_filters))
        bias = None if self.bias is None else F.pad(self.bias, (0, extra_filters))
        x = x if extra_channels == 0 else F.pad(x, (0, 0, 0, 0, 0, extra_channels))
        y = F.conv2d(x, weight, bias, self.stride, self.padding)
        if extra_filters == 0:
            return y
        channels_last = y.is_contiguous(memory_format=torch.channels_last)
        kept = y.narrow(1, 0, self.out_channels)
        return kept.contiguous(memory_format=torch.channels_last) if channels_last else kept


def convolution(pad_channels):
    """The convolution layer's constructor: nn.Conv2d, or PaddedConv2d to multiples of pad_channels (--pad-channels)."""
    return nn.Conv2d if pad_channels is None else lambda *args, **kwargs: PaddedConv2d(*args, multiple=pad_channels, **kwargs)


def identity_conv(conv, cin, cout):
    layer = conv(cin, cout, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(layer.weight[:min(cin, cout)])
    return layer


def batch_norm(channels):
    norm = nn.BatchNorm2d(channels, eps=1e-12, momentum=0.4)
    norm.weight.requires_grad = False
    return norm


class Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def block(conv, index, cin, cout):
    return [(f"block{index}_conv1", identity_conv(conv, cin, cout)), (f"block{index}_pool", nn.MaxPool2d(2)),
            (f"block{index}_norm1", batch_norm(cout)), (f"block{index}_gelu1", nn.GELU()),
            (f"block{index}_conv2", identity_conv(conv, cout, cout)), (f"block{index}_norm2", batch_norm(cout)),
            (f"block{index}_gelu2", nn.GELU())]


def airbench_net(pad_channels=None):
    from collections import OrderedDict
    conv = convolution(pad_channels)
    whiten = conv(3, 24, 2, bias=True)
    whiten.weight.requires_grad = False
    layers = [("whiten", whiten), ("whiten_gelu", nn.GELU()),
              *block(conv, 1, 24, 64), *block(conv, 2, 64, 256), *block(conv, 3, 256, 256),
              ("pool", nn.MaxPool2d(3)), ("flatten", nn.Flatten()), ("head", nn.Linear(256, 10, bias=False)),
              ("head_scale", Scale(1 / 9))]
    return nn.Sequential(OrderedDict(layers))


def init_whitening(conv, images, epsilon=5e-4):
    """Eigenvectors of the 2x2 patches' uncentred covariance, each / sqrt(eigenvalue + eps), largest first, and negatives."""
    c, k = images.shape[1], conv.kernel_size[0]
    patches = images.float().unfold(2, k, 1).unfold(3, k, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k).double()
    covariance = patches.t() @ patches / patches.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    filters = (eigenvectors.t() / (eigenvalues + epsilon).sqrt().unsqueeze(1)).flip(0).reshape(-1, c, k, k)
    with torch.no_grad():
        conv.weight.copy_(torch.cat([filters, -filters]).to(conv.weight.dtype))


# ---- the step ----

def schedule_factor(step):
    warmup = int(TOTAL_STEPS * WARMUP_FRACTION)
    if step < warmup:
        return START_FACTOR + (1 - START_FACTOR) * step / warmup
    return 1 + (END_FACTOR - 1) * (step - warmup) / max(1, TOTAL_STEPS - warmup)


class Phases:
    """Wall time per named phase, summed over the steps it is on for (the CPU runs each operation before returning)."""

    def __init__(self):
        self.on = False
        self.seconds = {}
        self._last = None

    def start(self):
        self._last = time.perf_counter()

    def mark(self, name):
        now = time.perf_counter()
        if self.on:
            self.seconds[name] = self.seconds.get(name, 0.0) + now - self._last
        self._last = now


class OurStep:
    """One step of CnnTrainer's loop with the fast recipe."""

    def __init__(self, dtype, memory_format, phases, pad_channels=None):
        self.dtype, self.memory_format, self.phases = dtype, memory_format, phases
        self.master = airbench_net(pad_channels).to(memory_format=memory_format)
        self.working = None
        if dtype != torch.float32:
            self.working = copy.deepcopy(self.master).to(dtype)
            for module in self.working.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.float()
            master_state = self.master.state_dict()
            self.state_pairs = [(master_state[k], v) for k, v in self.working.state_dict().items()]
            master_parameters = dict(self.master.named_parameters())
            self.weight_pairs = [(master_parameters[k], p) for k, p in self.working.named_parameters()]
            master_buffers = dict(self.master.named_buffers())
            self.buffer_pairs = [(master_buffers[k], b) for k, b in self.working.named_buffers()]
        shifts = {f"{name}.bias" for name, m in self.master.named_modules() if isinstance(m, nn.BatchNorm2d)}
        trained = [(n, p) for n, p in self.master.named_parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(
            [dict(params=[p for n, p in trained if n in shifts], lr=LEARNING_RATE * BATCH_NORM_BIAS_SCALE,
                  weight_decay=WEIGHT_DECAY / BATCH_NORM_BIAS_SCALE),
             dict(params=[p for n, p in trained if n not in shifts], lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)],
            momentum=MOMENTUM, nesterov=True)
        self.base_rates = [g["lr"] for g in self.optimizer.param_groups]
        self.lookahead_state = [t for t in self.master.state_dict().values() if t.is_floating_point()]
        self.lookahead_average = [t.detach().clone() for t in self.lookahead_state]
        self.scale = torch.tensor([1 / (255 * s) for s in STD]).view(1, 3, 1, 1)
        self.offset = torch.tensor([-m / s for m, s in zip(MEAN, STD)]).view(1, 3, 1, 1)
        self.step_index = 0
        self.loss_sum = torch.zeros(1, dtype=torch.float64)
        self.correct = torch.zeros(1, dtype=torch.int64)

    @property
    def network(self):
        return self.working if self.working is not None else self.master

    def init_whitening(self, images):
        pixels = images[:1024].float() * self.scale + self.offset
        init_whitening(self.master.whiten, pixels)

    def augment(self, pixels, flips, shifts):
        """BatchAugmenter.Apply with alternating flips (drawn per image) and translation, then NormalizePixels."""
        n, c, h, w = pixels.shape
        x = pixels.float().div_(255)
        x = torch.where(flips.view(n, 1, 1, 1), x.flip(3), x)
        padded = F.pad(x, (TRANSLATE,) * 4, mode="reflect")
        rows = (torch.arange(h).view(1, 1, h, 1) + (shifts[:, 0].view(n, 1, 1, 1) + TRANSLATE)).expand(n, c, h, w + 2 * TRANSLATE)
        columns = (torch.arange(w).view(1, 1, 1, w) + (shifts[:, 1].view(n, 1, 1, 1) + TRANSLATE)).expand(n, c, h, w)
        x = padded.gather(2, rows).gather(3, columns)
        return (x * 255 * self.scale + self.offset).contiguous(memory_format=self.memory_format)

    def step(self, pixels, labels, flips, shifts):
        p = self.phases
        p.start()
        images = self.augment(pixels, flips, shifts)
        p.mark("augmentation")
        if self.working is not None:
            with torch.no_grad():
                for master, working in self.state_pairs:
                    working.copy_(master)
            p.mark("working-copy refresh")
            logits = self.working(images.to(self.dtype)).float()
        else:
            logits = self.master(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=LABEL_SMOOTHING)
        p.mark("forward")
        self.optimizer.zero_grad(set_to_none=False)
        loss.backward()
        p.mark("backward")
        if self.working is not None:
            with torch.no_grad():
                for master, working in self.weight_pairs:
                    if working.grad is None:
                        continue
                    if master.grad is None:
                        master.grad = working.grad.float()
                    else:
                        master.grad.copy_(working.grad)
                    working.grad = None
                for master, working in self.buffer_pairs:
                    master.copy_(working)
            p.mark("gradients to float32")
        factor = schedule_factor(self.step_index)
        for group, rate in zip(self.optimizer.param_groups, self.base_rates):
            group["lr"] = rate * factor
        self.optimizer.step()
        p.mark("optimizer")
        self.step_index += 1
        if self.step_index % LOOKAHEAD_INTERVAL == 0:
            decay = 0.95 ** LOOKAHEAD_INTERVAL * (self.step_index / TOTAL_STEPS) ** 3
            with torch.no_grad():
                for average, state in zip(self.lookahead_average, self.lookahead_state):
                    average.lerp_(state, 1 - decay)
                    state.copy_(average)
        p.mark("lookahead")
        with torch.no_grad():
            self.loss_sum += loss.detach().double() * labels.shape[0]
            self.correct += (logits.argmax(1) == labels).sum()
        p.mark("bookkeeping")


class ReferenceStep:
    """airbench94's own step, from the given file's parts, on the CPU."""

    def __init__(self, path, dtype, memory_format, phases):
        self.dtype, self.memory_format, self.phases = dtype, memory_format, phases
        spec = importlib.util.spec_from_file_location("airbench94", path)
        airbench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(airbench)
        self.airbench = airbench
        # The reference puts its network on the GPU in float16; here it stays on the CPU in the chosen type.
        cuda, half = nn.Module.cuda, nn.Module.half
        nn.Module.cuda = lambda module, *args, **kwargs: module
        nn.Module.half = lambda module: module.to(dtype)
        try:
            self.model = airbench.make_net()
        finally:
            nn.Module.cuda, nn.Module.half = cuda, half
        if memory_format != torch.channels_last:
            self.model = self.model.to(memory_format=memory_format)
        hyp = airbench.hyp["opt"]
        kilostep_scale = 1024 * (1 + 1 / (1 - hyp["momentum"]))
        lr = hyp["lr"] / kilostep_scale
        wd = hyp["weight_decay"] * hyp["batch_size"] / kilostep_scale
        lr_biases = lr * hyp["bias_scaler"]
        norm_biases = [p for k, p in self.model.named_parameters() if "norm" in k and p.requires_grad]
        other = [p for k, p in self.model.named_parameters() if "norm" not in k and p.requires_grad]
        self.optimizer = torch.optim.SGD([dict(params=norm_biases, lr=lr_biases, weight_decay=wd / lr_biases),
                                          dict(params=other, lr=lr, weight_decay=wd / lr)],
                                         momentum=hyp["momentum"], nesterov=True)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=hyp["label_smoothing"], reduction="none")
        self.lookahead = airbench.LookaheadState(self.model)
        self.alpha = 0.95 ** 5 * (torch.arange(TOTAL_STEPS + 1) / TOTAL_STEPS) ** 3
        self.normalize_mean = torch.tensor(MEAN).view(1, 3, 1, 1)
        self.normalize_std = torch.tensor(STD).view(1, 3, 1, 1)
        self.step_index = 0

    @property
    def network(self):
        return self.model

    def _normalized(self, pixels):
        x = (pixels.to(self.dtype) / 255).contiguous(memory_format=self.memory_format)
        return (x - self.normalize_mean.to(self.dtype)) / self.normalize_std.to(self.dtype)

    def init_whitening(self, images):
        self.airbench.init_whitening_conv(self.model[0], self._normalized(images[:1024]))

    def augment(self, pixels, flips, shifts):
        # Its loader normalizes, flips and pads the whole set once and crops every epoch: here per batch, the same work.
        x = self.airbench.batch_flip_lr(self._normalized(pixels))
        return self.airbench.batch_crop(F.pad(x, (TRANSLATE,) * 4, "reflect"), 32)

    def step(self, pixels, labels, flips, shifts):
        p = self.phases
        p.start()
        inputs = self.augment(pixels, flips, shifts)
        p.mark("augmentation")
        outputs = self.model(inputs)
        loss = self.loss_fn(outputs, labels).sum()
        p.mark("forward")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        p.mark("backward")
        self.optimizer.step()
        p.mark("optimizer")
        self.step_index += 1
        if self.step_index % 5 == 0:
            self.lookahead.update(self.model, decay=self.alpha[self.step_index].item())
        p.mark("lookahead")


# ---- per-layer timing ----

def leaves(module, prefix=""):
    children = list(module.named_children())
    if not children:
        yield prefix, module
    for name, child in children:
        yield from leaves(child, f"{prefix}.{name}" if prefix else name)


def conv_flops(module, x, y):
    """Multiply-adds x 2 of a forward pass (convolutions and linear layers; 0 elsewhere)."""
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return 2 * y.numel() * module.in_channels * k
    if isinstance(module, nn.Linear):
        return 2 * y.shape[0] * module.in_features * module.out_features
    return 0


def time_layers(network, images):
    """Each leaf layer alone on its real input: forward, and backward (gradients of its input and its trained weights)."""
    layers = list(leaves(network))
    inputs = []
    with torch.no_grad():
        x = images
        for _, layer in layers:
            inputs.append(x)
            x = layer(x)
    rows = []
    for (name, layer), x in zip(layers, inputs):
        forward, backward = [], []
        for _ in range(3):
            source = x.detach().requires_grad_(name != "whiten")
            start = time.perf_counter()
            y = layer(source)
            forward.append(time.perf_counter() - start)
            wanted = ([source] if source.requires_grad else []) + [p for p in layer.parameters() if p.requires_grad]
            gradient = torch.ones_like(y)
            start = time.perf_counter()
            if wanted:
                torch.autograd.grad(y, wanted, gradient)
            backward.append(time.perf_counter() - start)
        flops = conv_flops(layer, x, y)
        backward_flops = flops * (2 if name != "whiten" else 0)
        rows.append((name, type(layer).__name__, tuple(y.shape[1:]), min(forward), min(backward), flops, backward_flops))
    return rows


def print_profile(phases, steps, layers):
    total = sum(phases.seconds.values())
    print(f"phases, mean of {steps} steps ({total / steps * 1000:.0f} ms per step):")
    for name, seconds in phases.seconds.items():
        print(f"  {name:22} {seconds / steps * 1000:8.1f} ms  {seconds / total:6.1%}")
    print("layers, each alone on its input (best of 3): forward ms, backward ms, GFLOP/s forward, backward")
    sums = [0.0, 0.0, 0, 0]
    for name, kind, shape, f, b, ff, bf in layers:
        rate = lambda flop, s: f"{flop / s / 1e9:7.1f}" if flop else "       "
        print(f"  {name:14} {kind:12} {str(shape):16} {f * 1000:8.1f} {b * 1000:8.1f} {rate(ff, f)} {rate(bf, b)}")
        sums = [sums[0] + f, sums[1] + b, sums[2] + ff, sums[3] + bf]
    print(f"  {'all layers':43} {sums[0] * 1000:8.1f} {sums[1] * 1000:8.1f} "
          f"{sums[2] / sums[0] / 1e9:7.1f} {sums[3] / sums[1] / 1e9:7.1f}   ({(sums[2] + sums[3]) / 1e12:.3f} TFLOP per step)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("precision", nargs="?", default="BFloat16")
    parser.add_argument("steps", nargs="?", type=int, default=6)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--layout", choices=["channels_last", "contiguous"], default="channels_last")
    parser.add_argument("--pad-channels", nargs="?", type=int, const=16, default=None, metavar="N")
    parser.add_argument("--reference", nargs="?", const=os.environ.get("AIRBENCH94", ""), default=None)
    args = parser.parse_args()
    try:
        dtype = pass_type(args.precision)
    except KeyError:
        parser.error(f"precision {args.precision!r}: Float32, BFloat16 or Auto")
    if args.steps < 1:
        parser.error("steps must be 1 or more")
    if args.reference is not None and not os.path.isfile(args.reference):
        parser.error(f"--reference: no airbench94.py at {args.reference!r} (give the file, or set AIRBENCH94)")
    if args.pad_channels is not None and (args.reference is not None or args.pad_channels < 1):
        parser.error("--pad-channels takes a multiple of 1 or more, for the transcribed step (not --reference)")
    torch.set_flush_denormal(True)  # the trainer flushes denormals (Training:FlushDenormals)
    torch.manual_seed(1)
    memory_format = torch.channels_last if args.layout == "channels_last" else torch.contiguous_format
    phases = Phases()
    runner = (ReferenceStep(args.reference, dtype, memory_format, phases) if args.reference is not None
              else OurStep(dtype, memory_format, phases, args.pad_channels))
    count = (args.steps + 1) * BATCH
    generator = torch.Generator().manual_seed(1)
    pixels = torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (count,), generator=generator)
    flips = torch.rand(count, generator=generator) < 0.5
    shifts = torch.randint(-TRANSLATE, TRANSLATE + 1, (count, 2), generator=generator)
    order = torch.randperm(count, generator=generator)
    runner.init_whitening(pixels)
    runner.network.train()
    ends, cpu = [], []
    for step in range(args.steps + 1):
        phases.on = step > 0  # the first step is the warm-up
        batch = order[step * BATCH:(step + 1) * BATCH]
        runner.step(pixels.index_select(0, batch), labels.index_select(0, batch), flips.index_select(0, batch),
                    shifts.index_select(0, batch))
        ends.append(time.perf_counter())
        cpu.append(time.process_time())
    per_step = (ends[-1] - ends[0]) / args.steps * 1000
    cpu_per_step = (cpu[-1] - cpu[0]) / args.steps * 1000
    name = {torch.float32: "Float32", torch.bfloat16: "BFloat16"}[dtype]
    print(f"{name}: {per_step:.0f} ms per step, {BATCH * 1000 / per_step:.0f} images/s, {cpu_per_step:.0f} ms processor time per step")
    steps_ms = [(b - a) * 1000 for a, b in zip(ends, ends[1:])]
    who = f"airbench94 ({os.path.basename(args.reference)})" if args.reference is not None else "fast recipe"
    print(f"  {who}, PyTorch {torch.__version__}, {torch.get_num_threads()} threads, {args.layout}"
          f"{f', channels padded to multiples of {args.pad_channels}' if args.pad_channels else ''}; "
          f"steps {', '.join(f'{s:.0f}' for s in steps_ms)} ms (median {statistics.median(steps_ms):.0f})", file=sys.stderr)
    if args.profile:
        network = runner.network
        images = runner.augment(pixels[:BATCH], flips[:BATCH], shifts[:BATCH]).to(dtype)
        print_profile(phases, args.steps, time_layers(network, images))


if __name__ == "__main__":
    main()
