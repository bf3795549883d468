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
from fastai.callback.core import Callback

from nogancolor.data import colorization_dls
from nogancolor.learner import colorization_learner
from nogancolor.models import UNet


def plain_loop(dls, steps: int, precision: str) -> float:
    """Images/s of model+loss+backward+Adam on pre-fetched batches (no data time)."""
    model = UNet()
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
    """Times whole training steps and the model part (before_batch -> after_step) of each."""

    order = 100

    def before_fit(self):
        self.model_time, self.steps, self.t_end = 0.0, 0, None

    def before_batch(self):
        self.t_model = time.perf_counter()

    def after_step(self):
        if self.iter >= 3:
            self.model_time += time.perf_counter() - self.t_model

    def after_batch(self):
        if self.iter == 2:
            self.t0 = time.perf_counter()
        if self.iter >= 3:
            self.steps += 1


def learner_loop(dls, steps: int, precision: str):
    learn = colorization_learner(dls, UNet(), precision=precision, log=False, grid=False)
    timer = StepTimer()
    learn.add_cb(timer)
    dls.train.n = (steps + 3) * dls.bs  # a short epoch of exactly steps+3 batches
    with learn.no_bar(), learn.no_logging():
        start = [None]

        class Stop(Callback):
            order = 101

            def after_train(self):
                start[0] = time.perf_counter()
                raise __import__("fastai").callback.core.CancelFitException

        learn.fit(1, 1e-3, cbs=Stop())
    total = start[0] - timer.t0
    return timer.steps * dls.bs / total, 1 - timer.model_time / total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/cifar10")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--bs", type=int, default=64)
    args = ap.parse_args()
    torch.manual_seed(0)
    dls = colorization_dls(args.data, "hue", bs=args.bs, n_train=(args.steps + 6) * args.bs, n_val=args.bs)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, bs {args.bs}")
    print("| precision | plain loop img/s | Learner img/s | Learner vs plain | outside model |")
    print("|---|---|---|---|---|")
    for precision in ("fp32", "bf16"):
        plain = plain_loop(dls, args.steps, precision)
        fast, outside = learner_loop(dls, args.steps, precision)
        print(f"| {precision} | {plain:.0f} | {fast:.0f} | {fast / plain - 1:+.1%} | {outside:.1%} |")


if __name__ == "__main__":
    main()
