"""Training throughput: a plain PyTorch loop vs our fastai Learner, same model, data and device.

    python benchmarks/train_speed.py --data data/cifar10 [--device cuda] [--bs 64,256] [--steps 30] [--compile]

Three steps, each as a hand-written loop and as our Learner (`colorization_learner`,
`dcgan_learner`, `joint_learner`) on the same batches from `colorization_dls`:

- unet:  the small U-Net, MSE, fused Adam;
- dcgan: one batch a discriminator step, the next a generator step (adversarial + 100 L1);
- nogan: NoGAN's joint phase: feature loss + adversarial, the critic trained until its loss is
  under the threshold, then one generator step (this rule reads the loss on the host each step).

It prints images/s, the Learner/plain ratio and the host reads per Learner step (values read to
Python or copied to the CPU, counted by `nogancolor.train.on_device.count_host_reads`; on CUDA also
the syncs `torch.cuda.set_sync_debug_mode` reports). Precision is what `--precision auto` picks:
bf16 where it is native and measured faster (CPU or GPU), else fp32; channels_last on CUDA. On
CPU it also prints the data pipeline, Adam and matmul figures and the U-Net table over
precisions and memory formats.
"""

import argparse
import time
import warnings
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from fastai.callback.channelslast import ChannelsLast
from fastai.callback.core import Callback, CancelFitException
from fastai.optimizer import Adam

from nogancolor.models.critics import PairCritic, PairDiscriminator
from nogancolor.data import colorization_dls
from nogancolor.methods.dcgan import dcgan_learner
from nogancolor.train.learner import colorization_learner, cpu_name, for_device, resolve_precision
from nogancolor.models.losses import FeatureLoss, discriminator_loss, generator_loss
from nogancolor.models import UNet
from nogancolor.models.classifier import CifarNet
from nogancolor.models.features import FrozenFeatures
from nogancolor.methods.nogan import joint_learner
from nogancolor.train.on_device import count_host_reads

TRAIN_GFLOP = 0.706  # forward + backward of UNet(base=64) on one 32x32 image (tests/test_models.py)
WARMUP = 5
CRITIC_THRESH = 2 * 0.65  # joint_learner's: DeOldify's 0.65 on the mean of our two BCE terms


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def layout(module: torch.nn.Module, channels_last: bool) -> torch.nn.Module:
    return module.to(memory_format=torch.channels_last) if channels_last else module


def feature_net(device) -> FrozenFeatures:
    """NoGAN's default feature network (untrained weights: speed does not depend on them)."""
    return FrozenFeatures(CifarNet(), (20, 70, 10)).to(device)


class PlainSteps:
    """Hand-written training steps for each method, with what `--precision auto` picks."""

    def __init__(self, kind: str, device, precision: str, channels_last: bool, compile: bool):
        self.kind, self.device = kind, device
        self.autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext())
        self.generator = layout(UNet(), channels_last).to(device)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=1e-4, fused=True)
        if kind != "unet":
            critic = PairDiscriminator() if kind == "dcgan" else PairCritic()
            self.critic = layout(critic, channels_last).to(device)
            self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=1e-4, fused=True)
            self.gen_mode = False
        if kind == "nogan":
            self.feature_loss = FeatureLoss(feature_net(device))
        if compile:
            self.generator.compile()

    def step(self, x, y):
        """One step, with the project's own cost functions (nogancolor.models.losses), as the Learners."""
        with self.autocast:
            if self.kind == "unet":
                loss = F.mse_loss(self.generator(x).float(), y)
            elif self.gen_mode:
                fake = self.generator(x).float()
                if self.kind == "dcgan":
                    loss = generator_loss(self.critic(x, fake), fake, y, l1_weight=100.0)[0]
                else:
                    self.feature_loss.gray = x
                    loss = generator_loss(self.critic(x, fake), fake, y, l1_weight=1.5, content=self.feature_loss)[0]
            else:
                with torch.no_grad():
                    fake = self.generator(x).float()
                real_label = 0.9 if self.kind == "dcgan" else 1.0
                loss = discriminator_loss(self.critic(x, y), self.critic(x, fake), real_label)[0]
        loss.backward()
        opt = self.opt_g if self.kind == "unet" or self.gen_mode else self.opt_c
        opt.step()
        opt.zero_grad()
        if self.kind == "dcgan":
            self.gen_mode = not self.gen_mode
        elif self.kind == "nogan":  # AdaptiveGANSwitcher(critic_thresh): one read per step, as in the Learner
            self.gen_mode = not self.gen_mode if self.gen_mode or loss < CRITIC_THRESH else False


def plain_loop(dls, kind: str, steps: int, precision: str, channels_last: bool, compile: bool) -> float:
    """Images/s of the hand-written steps over batches fetched beforehand (no data time)."""
    device = dls.device or torch.device("cpu")
    steps_ = PlainSteps(kind, device, precision, channels_last, compile)
    batches = [b for b, _ in zip(dls.train, range(steps + WARMUP))]
    for i, (x, y) in enumerate(batches):
        if i == WARMUP:
            sync(device)
            start = time.perf_counter()
        steps_.step(x, y)
    sync(device)
    return steps * dls.bs / (time.perf_counter() - start)


class StepTimer(Callback):
    """Times `steps` training steps after a warm-up, whole (data + callbacks + model) and the
    model part (before_batch -> after_step; on a GPU the host runs ahead, so only the whole is
    meaningful there), then counts host reads over `READ_STEPS` more steps (untimed: counting
    intercepts every tensor operation) and stops the fit."""

    order = 100
    READ_STEPS = 4

    def __init__(self, steps: int):
        self.steps = steps

    def before_fit(self):
        self.model_time, self.timed, self.reads = 0.0, 0, count_host_reads()

    def before_batch(self):
        self.t_model = time.perf_counter()

    def after_step(self):
        if WARMUP <= self.iter < WARMUP + self.steps:
            self.model_time += time.perf_counter() - self.t_model

    def after_batch(self):
        if self.iter == WARMUP - 1:
            sync(self.dls.device or torch.device("cpu"))
            self.t0 = time.perf_counter()
        elif self.iter == WARMUP + self.steps - 1:
            sync(self.dls.device or torch.device("cpu"))
            self.total, self.timed = time.perf_counter() - self.t0, self.steps
            self.reads.__enter__()
        elif self.iter == WARMUP + self.steps + self.READ_STEPS - 1:
            self.reads.__exit__(None, None, None)
            raise CancelFitException


def learner(dls, kind: str, precision: str, channels_last: bool, compile: bool):
    device = dls.device or torch.device("cpu")
    if kind == "unet":
        learn = colorization_learner(dls, UNet(), log=False, grid=False)
    elif kind == "dcgan":
        learn = dcgan_learner(dls, UNet(), PairDiscriminator())
    else:
        learn = joint_learner(dls, UNet(), PairCritic(), feature_net(device), log=False)
    learn = for_device(learn, precision, compile)  # as run_training sets up every run
    if channels_last and not hasattr(learn, "channels_last"):
        learn.add_cb(ChannelsLast())
    return learn


def learner_loop(dls, kind: str, steps: int, precision: str, channels_last: bool = False, compile: bool = False):
    """-> (images/s, share of step time outside the model, host reads per step) of our Learner."""
    learn = learner(dls, kind, precision, channels_last, compile)
    timer = StepTimer(steps)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-4, cbs=timer)
    return timer.timed * dls.bs / timer.total, 1 - timer.model_time / timer.total, timer.reads.count / timer.READ_STEPS


def cuda_syncs_per_step(dls, kind: str, precision: str, steps: int = 10) -> float:
    """Synchronizing calls per Learner step as CUDA's own sync debug mode reports them."""
    learn = learner(dls, kind, precision, True, False)

    class Watch(Callback):
        order = 100

        def after_batch(self):
            if self.iter == WARMUP - 1:
                torch.cuda.set_sync_debug_mode("warn")
            elif self.iter == WARMUP + steps - 1:
                torch.cuda.set_sync_debug_mode("default")
                raise CancelFitException

    with warnings.catch_warnings(record=True) as caught, learn.no_bar(), learn.no_logging():
        warnings.simplefilter("always")
        learn.fit(1, 1e-4, cbs=Watch())
    torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught) / steps


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    """GFLOP/s of a large square matmul: the ceiling the convolutions work under."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def data_time(dls, batches: int = 50) -> float:
    """Milliseconds to gather and Lab-convert one training batch, with no model."""
    batches = min(batches, len(dls.train) - 1)
    it = iter(dls.train)
    next(it)
    sync(dls.device or torch.device("cpu"))
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    sync(dls.device or torch.device("cpu"))
    return (time.perf_counter() - start) / batches * 1000


def optimizer_step_ms(opt_factory, reps: int = 10) -> float:
    """Milliseconds of one optimizer step over the U-Net's 16.8M parameters."""
    params = list(UNet().parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    opt = opt_factory(params)
    for _ in range(3):
        opt.step()
    start = time.perf_counter()
    for _ in range(reps):
        opt.step()
    return (time.perf_counter() - start) / reps * 1000


def device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()}, {torch.get_num_threads()} threads"


def cpu_table(dls, steps: int):
    ms = data_time(dls)
    print(f"data pipeline: {ms:.1f} ms per batch of {dls.bs} ({dls.bs / ms * 1000:.0f} images/s)")
    fastai_adam = optimizer_step_ms(lambda ps: Adam(ps, lr=1e-3))
    fused_adam = optimizer_step_ms(lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True))
    print(f"Adam step: fastai's {fastai_adam:.0f} ms, torch fused (ours) {fused_adam:.0f} ms")
    peaks = {p: matmul_peak(d) for p, d in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print(f"matmul peak: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s; "
          f"one training image costs {TRAIN_GFLOP} GFLOP")
    print("\n| precision | memory format | plain loop img/s | Learner img/s | Learner vs plain | outside model | Learner / matmul peak |")
    print("|---|---|---|---|---|---|---|")
    for precision, channels_last in (("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)):
        plain = plain_loop(dls, "unet", steps, precision, channels_last, False)
        fast, outside, _ = learner_loop(dls, "unet", steps, precision, channels_last)
        name = "channels_last" if channels_last else "NCHW"
        print(f"| {precision} | {name} | {plain:.0f} | {fast:.0f} | {fast / plain - 1:+.1%} | {outside:.1%} | "
              f"{fast * TRAIN_GFLOP / peaks[precision]:.0%} |")


def method_table(args, device):
    precision = resolve_precision("auto", device)
    channels_last = device.type == "cuda"
    print(f"\nprecision {precision}{', channels_last' if channels_last else ''}"
          f"{', torch.compile' if args.compile else ''}; images/s after {WARMUP} warm-up steps")
    head = "| step | bs | plain loop img/s | Learner img/s | Learner / plain | host reads per step |"
    if device.type == "cuda":
        head += " CUDA syncs per step |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for bs in args.bs:
        n_train = (args.steps + 2 * WARMUP + StepTimer.READ_STEPS) * bs
        dls = colorization_dls(args.data, "hue", bs=bs, n_train=n_train, n_val=bs, device=device)
        for kind in args.methods:
            torch.manual_seed(0)
            plain = plain_loop(dls, kind, args.steps, precision, channels_last, args.compile)
            torch.manual_seed(0)
            fast, _, reads = learner_loop(dls, kind, args.steps, precision, channels_last, args.compile)
            row = f"| {kind} | {bs} | {plain:,.0f} | {fast:,.0f} | {fast / plain:.2f} | {reads:.1f} |"
            if device.type == "cuda":
                row += f" {cuda_syncs_per_step(dls, kind, precision):.1f} |"
            print(row, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/cifar10")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--bs", type=lambda s: [int(b) for b in s.split(",")], default=None,
                    help="comma-separated batch sizes (default: 64 on CPU, 256,1024 on CUDA)")
    ap.add_argument("--methods", type=lambda s: s.split(","), default=["unet", "dcgan", "nogan"])
    ap.add_argument("--compile", action="store_true", help="torch.compile the generator in both loops (as train --compile)")
    ap.add_argument("--no-cpu-table", action="store_true", help="skip the CPU precision/layout table")
    args = ap.parse_args()
    device = torch.device(args.device)
    args.bs = args.bs or ([256, 1024] if device.type == "cuda" else [64])
    torch.manual_seed(0)
    print(f"device: {device_name(device)}; torch {torch.__version__}")
    if device.type == "cpu" and not args.no_cpu_table:
        bs = args.bs[0]
        n_train = max(args.steps + 2 * WARMUP + StepTimer.READ_STEPS, 60) * bs
        cpu_table(colorization_dls(args.data, "hue", bs=bs, n_train=n_train, n_val=bs), args.steps)
    method_table(args, device)


if __name__ == "__main__":
    main()
