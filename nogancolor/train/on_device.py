"""Training-step bookkeeping that stays on the device: no host sync in a training step.

Reading a GPU tensor on the host (`.item()`, `.cpu()`, `if tensor:`, printing it) waits until
every queued kernel has run, so the host cannot queue the next step while the GPU works on this
one. Stock fastai reads in every step: the smoothed loss is copied to the CPU, the progress bar
prints it, GANTrainer copies its smoothed losses and the whole last generated batch, and
validation copies the loss and each loss metric per batch. `keep_on_device(learn)` swaps these
for accumulators that stay on the device and are read once per epoch (and the progress bar's
loss once a second). `count_host_reads()` counts reads on any device, so a CPU test can check
that a training step makes none (`torch.cuda.set_sync_debug_mode` exists on GPUs only).
"""

import time

import torch
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from fastai.learner import AvgLoss, AvgSmoothLoss, Metric
from fastai.metrics import AvgMetric, LossMetric
from fastai.torch_core import find_bs
from fastai.vision.gan import GANTrainer
from torch.overrides import TorchFunctionMode

from ..color import output_to_rgb
from ..evaluation.metrics import psnr
from . import orders
from .distributed import summed_over_processes


def add_batch_mean(total, value: torch.Tensor, bs: int):
    """total + mean(value) * bs, kept as a device tensor (`total` starts as the number 0)."""
    return total + value.detach().float().mean() * bs


class DeviceMean:
    """The value of a metric summed on the device as `total` over `count` items, read once:
    total / count over every process's shard, as a number."""

    @property
    def value(self):
        total, count = summed_over_processes(self.total, self.count)
        return float(total) / count if count else None


class RGBPSNR(DeviceMean, Metric):
    """Mean per-image PSNR (dB) between RGB(L, predicted ab) and RGB(L, true ab); for an RGB
    generator (`train dcgan --output rgb`), between its RGB output and the true RGB. Summed on
    the device, read once per validation. `decode` turns a model's output into scaled ab first
    (a classifier of colour bins: its annealed mean)."""

    def __init__(self, decode=None):
        super().__init__()
        self.decode = decode

    def reset(self):
        self.total, self.count = 0.0, 0

    def accumulate(self, learn):
        l_norm = learn.xb[0]
        pred = self.decode(learn.pred) if self.decode else learn.pred
        values = psnr(output_to_rgb(l_norm, pred), output_to_rgb(l_norm, learn.yb[0]))
        self.total = self.total + values.sum()
        self.count += len(values)

    @property
    def name(self):
        return "psnr"


class DeviceAvgLoss(DeviceMean, AvgLoss):
    """fastai's validation loss (batch-size weighted mean), summed on the device."""

    def accumulate(self, learn):
        bs = find_bs(learn.yb)
        self.total, self.count = add_batch_mean(self.total, learn.loss, bs), self.count + bs


class DeviceAvgMetric(DeviceMean, AvgMetric):
    """fastai's metric from a function (accuracy, ...), summed on the device."""

    def accumulate(self, learn):
        bs = find_bs(learn.yb)
        self.total, self.count = add_batch_mean(self.total, self.func(learn.pred, *learn.yb), bs), self.count + bs


class DeviceLossMetric(DeviceMean, LossMetric):
    """fastai's LossMetric (a GAN's generator and critic loss on validation), summed on the device."""

    def accumulate(self, learn):
        value = getattr(learn.loss_func, self.attr, None)
        if value is not None:
            bs = find_bs(learn.yb)
            self.total, self.count = add_batch_mean(self.total, value, bs), self.count + bs


class DeviceAvgSmoothLoss(AvgSmoothLoss):
    """fastai's exponentially smoothed loss, on the device."""

    def accumulate(self, learn):
        self.count += 1
        loss = learn.loss.detach().float().mean()
        self.val = loss * (1 - self.beta) if self.count == 1 else torch.lerp(loss, self.val, self.beta)


class DeviceGANTrainer(GANTrainer):
    """fastai's GANTrainer with its smoothed losses on the device; it no longer copies each
    generated batch to the CPU (`last_gen` stays on the device)."""

    name = "gan_trainer"  # the attribute fastai's switchers look the trainer up by
    OWN = ("generator", "critic", "gen_mode")  # GANTrainer keeps these on itself; the GAN model has them too

    def __setattr__(self, name, value):
        if name in self.OWN:  # by design, so without fastai's "You are shadowing an attribute" warning each fit
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gen_loss, self.crit_loss = DeviceAvgSmoothLoss(self.gen_loss.beta), DeviceAvgSmoothLoss(self.crit_loss.beta)

    def after_batch(self):
        if not self.training:
            return
        smooth, history = (self.gen_loss, self.gen_losses) if self.gen_mode else (self.crit_loss, self.crit_losses)
        smooth.accumulate(self.learn)
        history.append(smooth.value)
        if self.gen_mode:
            self.last_gen = self.pred.detach()


class ThrottledProgress(ProgressCallback):
    """fastai's progress bar, printing the smoothed loss at most once a second instead of
    reading it every batch."""

    name = "progress"  # what `learn.no_bar()` and fastai look it up by

    def before_train(self):
        super().before_train()
        self.shown = 0.0

    def after_batch(self):
        self.pbar.update(self.iter + 1)
        if hasattr(self, "smooth_loss") and time.monotonic() - self.shown > 1:
            self.pbar.comment, self.shown = f"{self.smooth_loss.item():.4f}", time.monotonic()


class LossesToHost(Callback):
    """After a fit, move the per-step loss histories to the CPU in one copy each, where plots and
    `lr_find` expect them."""

    order = orders.LOSSES_TO_HOST

    def after_fit(self):
        self.recorder.losses = to_host(self.recorder.losses)
        trainer = getattr(self.learn, "gan_trainer", None)
        if trainer is not None:
            trainer.gen_losses, trainer.crit_losses = to_host(trainer.gen_losses), to_host(trainer.crit_losses)


def to_host(values: list) -> list:
    if not values or not torch.is_tensor(values[0]) or values[0].device.type == "cpu":
        return values
    return list(torch.stack(list(values)).cpu().unbind())


def on_device_metric(metric):
    """fastai's own metric classes -> their on-device twins; others are left as they are."""
    if isinstance(metric, LossMetric):
        return DeviceLossMetric(metric.attr, metric.nm)
    if type(metric) is AvgMetric:
        return DeviceAvgMetric(metric.func)
    return metric


def _replace_cb(learn, old, new):
    """Swap callback `old` for `new` in its place: callbacks of equal order run in the order they
    were added (the progress bar must wrap the logger before CSVLogger does)."""
    if old is not None:
        place = learn.cbs.index(old)
        learn.remove_cb(old)
        learn.add_cb(new)
        learn.cbs.items.insert(place, learn.cbs.items.pop())


def keep_on_device(learn):
    """Make `learn` read nothing back to the host in a training step (see the module's doc);
    -> `learn`. What a method's own losses and metrics record must stay on the device too."""
    recorder = learn.recorder
    recorder.loss, recorder.smooth_loss = DeviceAvgLoss(), DeviceAvgSmoothLoss(recorder.smooth_loss.beta)
    learn.metrics = [on_device_metric(m) for m in learn.metrics]
    _replace_cb(learn, getattr(learn, "progress", None), ThrottledProgress())
    trainer = getattr(learn, "gan_trainer", None)
    if trainer is not None:
        _replace_cb(learn, trainer, DeviceGANTrainer(switch_eval=trainer.switch_eval, clip=trainer.clip,
                                                    gen_first=trainer.gen_first, show_img=trainer.show_img))
    learn.add_cb(LossesToHost())
    return learn


HOST_READS = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.cpu, torch.Tensor.numpy, torch.Tensor.__bool__,
              torch.Tensor.__float__, torch.Tensor.__int__, torch.Tensor.__index__, torch.Tensor.__format__,
              torch.Tensor.nonzero, torch.nonzero}


class count_host_reads(TorchFunctionMode):
    """Context manager counting the tensor operations that would make the host wait for a GPU
    (values read to Python or copied to the CPU), on whatever device the tensors are:

        with count_host_reads() as reads:
            learn.fit(1)
        reads.count, reads.by_name
    """

    def __init__(self):
        super().__init__()
        self.count, self.by_name = 0, {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in HOST_READS or (func is torch.Tensor.to and _targets_cpu(args, kwargs)):
            self.count += 1
            name = getattr(func, "__name__", str(func))
            self.by_name[name] = self.by_name.get(name, 0) + 1
        return func(*args, **kwargs)


def _targets_cpu(args, kwargs) -> bool:
    """`tensor.to(...)` copies a device tensor to the CPU (`.cpu()` is counted on any device)."""
    device = torch._C._nn._parse_to(*args[1:], **kwargs)[0]
    return device is not None and device.type == "cpu" and args[0].device.type != "cpu"
