"""Training throughput of the small U-Net: a plain PyTorch loop vs our fastai Learner.

    python benchmarks/train_speed.py --data data/cifar10 [--steps 30] [--bs 64]

Both paths train the same model on the same batches from `colorization_dls`; the plain loop
calls the model, MSE, backward and Adam directly. "outside model" is the share of a Learner step
not spent in forward/backward/optimizer: data, transforms, callbacks, metrics bookkeeping.
"""

import argparse
import platform
import time
from contextlib import nullcontext

import torch
from fastai.callback.channelslast import ChannelsLast
from fastai.callback.core import Callback, CancelFitException
from fastai.optimizer import Adam

from nogancolor.data import colorization_dls
from nogancolor.learner import colorization_learner
from nogancolor.models import UNet

TRAIN_GFLOP = 0.706  # forward + backward of UNet(base=64) on one 32x32 image (tests/test_models.py)


def plain_loop(dls, steps: int, precision: str, channels_last: bool = False) -> float:
    """Images/s of model+loss+backward+Adam on pre-fetched batches (no data time)."""
    model = UNet().to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)  # as the Learner's
    batches = [b for b, _ in zip(dls.train, range(steps + 3))]
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    for i, (x, y) in enumerate(batches):
        if i == 3:
            start = time.perf_counter()
        with autocast:
            loss = torch.nn.functional.mse_loss(model(x).float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
    return steps * dls.bs / (time.perf_counter() - start)


class StepTimer(Callback):
    """Times training steps after a warm-up of 3, whole (data + callbacks + model) and the model
    part (before_batch -> after_step); stops the fit at the end of the training epoch."""

    order = 100

    def before_fit(self):
        self.model_time, self.steps = 0.0, 0

    def before_batch(self):
        self.t_model = time.perf_counter()

    def after_step(self):
        if self.iter >= 3:
            self.model_time += time.perf_counter() - self.t_model

    def after_batch(self):
        if self.iter == 2:
            self.t0 = time.perf_counter()
        self.steps += self.iter >= 3

    def after_train(self):
        self.total = time.perf_counter() - self.t0
        raise CancelFitException


def learner_loop(dls, precision: str, channels_last: bool = False):
    """-> (images/s, share of step time outside the model) of our Learner over one epoch."""
    learn = colorization_learner(dls, UNet(), precision=precision, log=False, grid=False)
    if channels_last:
        learn.add_cb(ChannelsLast())
    timer = StepTimer()
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3, cbs=timer)
    return timer.steps * dls.bs / timer.total, 1 - timer.model_time / timer.total


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
    it = iter(dls.train)
    next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
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


def cpu_name() -> str:
    try:
        lines = open("/proc/cpuinfo").read().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/cifar10")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--bs", type=int, default=64)
    args = ap.parse_args()
    torch.manual_seed(0)
    dls = colorization_dls(args.data, "hue", bs=args.bs, n_train=max(args.steps + 6, 60) * args.bs, n_val=args.bs)
    print(f"machine: {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, bs {args.bs}")
    ms = data_time(dls)
    print(f"data pipeline: {ms:.1f} ms per batch of {args.bs} ({args.bs / ms * 1000:.0f} images/s)")
    fastai_adam = optimizer_step_ms(lambda ps: Adam(ps, lr=1e-3))
    fused_adam = optimizer_step_ms(lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True))
    print(f"Adam step: fastai's {fastai_adam:.0f} ms, torch fused (ours) {fused_adam:.0f} ms")
    peaks = {p: matmul_peak(d) for p, d in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print(f"matmul peak: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s; "
          f"one training image costs {TRAIN_GFLOP} GFLOP")
    print("| precision | memory format | plain loop img/s | Learner img/s | Learner vs plain | outside model | Learner / matmul peak |")
    print("|---|---|---|---|---|---|---|")
    for precision, channels_last in (("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)):
        plain = plain_loop(dls, args.steps, precision, channels_last)
        fast, outside = learner_loop(dls, precision, channels_last)
        layout = "channels_last" if channels_last else "NCHW"
        share = fast * TRAIN_GFLOP / peaks[precision]
        print(f"| {precision} | {layout} | {plain:.0f} | {fast:.0f} | {fast / plain - 1:+.1%} | {outside:.1%} | {share:.0%} |")


if __name__ == "__main__":
    main()
