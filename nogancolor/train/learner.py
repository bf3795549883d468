"""The fastai Learner for pixel-loss colorization: MSE on ab, Adam, RGB PSNR, and run files."""

import functools
import platform
import time
from functools import partial
from pathlib import Path

import fastai.callback.schedule  # noqa: F401  (adds Learner.fit_one_cycle and lr_find)
import torch
from fastai.callback.channelslast import ChannelsLast
from fastai.callback.tracker import SaveModelCallback
from fastai.learner import Learner
from fastai.losses import MSELossFlat
from fastai.optimizer import OptimWrapper

from .callbacks import (
    AutocastMixedPrecision,
    HistoryCSVLogger,
    SaveLastCallback,
    ValGridCallback,
)
from ..config import PRECISIONS
from .on_device import RGBPSNR, keep_on_device



def fused_adam(**hypers):
    """A fastai opt_func: torch's Adam (no weight decay unless given) as its fused kernel, one
    launch for all parameters and no host reads. fastai's own Python Adam step is about 4x
    slower on the 16.8M-parameter U-Net (`make benchmark` prints both)."""
    return partial(OptimWrapper, opt=partial(torch.optim.Adam, fused=True, **hypers))


def fused_adamw(**hypers):
    """`fused_adam` with decoupled weight decay (AdamW), as fastai's Adam applies `wd`."""
    return partial(OptimWrapper, opt=partial(torch.optim.AdamW, fused=True, **hypers))


adam = fused_adam()
CHECKPOINT_DIR = "checkpoints"


CPU_BF16_MIN_SPEEDUP = 1.5  # bf16 matmul throughput over fp32's that makes "auto" pick bf16 on a CPU


def cpuinfo(field: str) -> str | None:
    """A field of the first CPU in Linux's /proc/cpuinfo (None elsewhere, or when absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.split(":", 1)[0].strip() == field), None)


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them (empty elsewhere)."""
    return set((cpuinfo("flags") or "").split())


def cpu_name() -> str:
    """The CPU's model name, as reports and benchmarks name the machine."""
    return cpuinfo("model name") or platform.processor() or platform.machine()


@functools.cache
def cpu_bf16_speedup(n: int = 512, repeats: int = 5) -> float:
    """bf16 matmul throughput over fp32's on this CPU, measured once per process (about 20 ms);
    0 without native bf16 instructions (AVX512-BF16 or AMX). The flags alone do not decide: an
    Intel Xeon with AVX512-BF16 ran bf16 matmuls at half fp32's speed and trained slower, the
    AMD EPYC here at 4x and trains 24-37 % faster (docs/speed.md)."""
    if not cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        return 0.0
    seconds = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(n, n).to(dtype)
        a @ a  # warm up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ a
            times.append(time.perf_counter() - start)
        seconds[dtype] = min(times)
    return seconds[torch.float32] / seconds[torch.bfloat16]


def resolve_precision(precision: str, device) -> str:
    """"auto" -> bf16 on GPUs that support it and on CPUs whose bf16 matmuls are at least
    CPU_BF16_MIN_SPEEDUP times as fast as fp32's (`cpu_bf16_speedup`), fp32 elsewhere."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    is_cuda = torch.device(device or "cpu").type == "cuda"
    if precision == "fp16" and not is_cuda:
        raise ValueError("fp16 mixed precision needs a CUDA GPU (it scales gradients there); use bf16 or fp32")
    if precision != "auto":
        return precision
    if is_cuda:
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if torch.device(device or "cpu").type == "cpu" and cpu_bf16_speedup() >= CPU_BF16_MIN_SPEEDUP else "fp32"


def run_callbacks(path: Path, best: bool = True, log: bool = True, grid: bool = True, monitor: str = "valid_loss",
                  decode=None) -> list:
    """The callbacks of a training run in `path`, for any method's Learner. With `log`: `last`
    checkpoint (for --resume), CSV history, and with `best` the best checkpoint by `monitor`
    (lower is better for losses, higher for other metrics); with `grid`: val_grid.png (of the
    model's output through `decode`, as RGBPSNR's)."""
    cbs = []
    if log and best:
        cbs.append(SaveModelCallback(monitor=monitor, fname="best", reset_on_fit=False))
    if log:
        cbs += [SaveLastCallback(), HistoryCSVLogger(fname="history.csv", append=True)]
    if grid:
        cbs.append(ValGridCallback(Path(path) / "val_grid.png", decode=decode))
    return cbs


def encoder_decoder_split(model) -> list:
    """Parameter groups of a DynamicUnet: its encoder, then the rest (fastai's unet splitter),
    so a `slice` of learning rates gives the encoder the lower one."""
    return [list(model[0].parameters()), [p for layer in list(model)[1:] for p in layer.parameters()]]


def colorization_learner(dls, model, path: Path = Path("."), log: bool = True, grid: bool = True, loss_func=None, cbs=(),
                         split_encoder: bool = False, decode=None) -> Learner:
    """Learner with MSE on scaled ab (or `loss_func`), Adam and val PSNR. With `log`, it also
    keeps `best` and `last` checkpoints under path/checkpoints and a CSV history; with `grid`,
    a val_grid.png. `split_encoder`: a DynamicUnet's encoder and decoder in two parameter
    groups (discriminative rates). `decode`: the model's output -> scaled ab, for the PSNR and
    the grid (a model that predicts something else, as colour-bin logits). A plain Learner: a
    run sets it up for its device (`for_device`), as a notebook may."""
    splitter = {"splitter": encoder_decoder_split} if split_encoder else {}
    learn = Learner(dls, model, loss_func=loss_func or MSELossFlat(), opt_func=adam, metrics=[RGBPSNR(decode)],
                    path=Path(path), model_dir=CHECKPOINT_DIR,
                    cbs=[*run_callbacks(path, log=log, grid=grid, decode=decode), *cbs],
                    **splitter)
    return learn


def classifier_learner(dls, model, path: Path = Path("."), log: bool = True) -> Learner:
    """The project's classifier: cross-entropy, Adam, accuracy; with `log`, `last` checkpoints
    and a CSV history in `path`. A plain Learner, as `colorization_learner`'s."""
    from fastai.losses import CrossEntropyLossFlat
    from fastai.metrics import accuracy

    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=adam, metrics=[accuracy], path=Path(path),
                    model_dir=CHECKPOINT_DIR, cbs=run_callbacks(path, best=False, log=log, grid=False))
    return learn


def for_device(learn: Learner, precision: str = "auto", compile: bool = False) -> Learner:
    """Set up any of our Learners for the device its data is on: mixed precision as `precision`
    resolves there; on CUDA, channels_last memory format (tensor cores read NHWC); bookkeeping
    kept on the device (no host sync per step); with `compile`, torch.compile of the model (a
    GAN's generator only: NoGAN's spectral-norm critic fails under it, its power-iteration
    vector being updated in place between the two critic calls of a step), in place so
    checkpoints keep their names. The resolved precision is `learn.precision` (an export
    records it). `run_training` calls this once for every run; a notebook may. -> `learn`."""
    device = getattr(learn.dls, "device", None)
    precision = learn.precision = resolve_precision(precision, device)
    if precision != "fp32":
        learn.add_cb(AutocastMixedPrecision(amp_mode=precision))
    if torch.device(device or "cpu").type == "cuda":
        learn.add_cb(ChannelsLast())
    if compile:
        getattr(learn.model, "generator", learn.model).compile()
    return keep_on_device(learn)
