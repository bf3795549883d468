"""Callbacks shared by every method's Learner: resumable checkpoints, val pictures, CPU autocast."""

import time
from pathlib import Path

import torch
from fastai.callback.core import Callback, CancelTrainException
from fastai.callback.fp16 import AMPMode, MixedPrecision
from fastai.callback.progress import CSVLogger
from fastai.callback.tracker import SaveModelCallback
from fastai.torch_core import rank_distrib, to_device
from fastcore.foundation import L
from fastprogress.fastprogress import master_bar
from torch import nn

from ..color import model_to_rgb, output_to_rgb
from ..evaluation.figures import prediction_grid
from ..files import atomic_write, write_json
from . import orders


class ContinueFromEpoch(Callback):
    """Resume a run of `n_epoch` epochs at epoch `start`: fit the remaining epochs while every
    callback sees the true epoch number, and the one-cycle schedule its true position (fastai
    derives it from epoch / n_epoch). fastai's own `start_epoch` fires `after_epoch` for the
    skipped epochs, which breaks SaveModelCallback and logs empty rows."""

    order = orders.RESUME_EPOCH

    def __init__(self, start: int, n_epoch: int):
        self.start, self.total = start, n_epoch

    def before_epoch(self):
        progress = getattr(self.learn, "progress", None)
        if self.epoch == 0 and getattr(progress, "mbar", None) is not None:
            # the epoch bar must span the whole run and see epoch 0 first, or fastprogress fails
            progress.mbar = master_bar(list(range(self.total)))
            progress.mbar.on_iter_begin()
            progress.mbar.update(0)
        self.learn.epoch += self.start
        self.learn.n_epoch = self.total


class FeedGray(Callback):
    """Before each batch, hand the batch's gray input to objects that need it beside (prediction,
    target): a conditional critic, a feature loss that builds RGB images. In a GAN's critic mode
    fastai has swapped xb and yb, so the gray input is yb there."""

    order = orders.FEED_GRAY

    def __init__(self, *receivers):
        self.receivers = receivers

    def before_fit(self):
        for receiver in self.receivers:
            if isinstance(receiver, nn.Module):  # a loss's fixed network is not part of learn.model
                receiver.to(self.dls.device)

    def before_batch(self):
        gray = self.xb[0] if getattr(self.model, "gen_mode", True) else self.yb[0]
        for receiver in self.receivers:
            receiver.gray = gray


class TrainBatchesPerEpoch(Callback):
    """End each epoch's training after `n` batches (of a freshly shuffled epoch), so validation,
    logging and checkpoints come every `n` batches: NoGAN's short joint phase is watched this
    way for the point where it stops improving."""

    order = orders.END_OF_EPOCH

    def __init__(self, n: int):
        self.n = n

    def after_batch(self):
        if self.training and self.iter + 1 >= self.n:
            raise CancelTrainException

    def after_cancel_train(self):
        self.learn.recorder.cancel_train = False  # else fastai's Recorder drops the train loss of this epoch


class StopBeforeDeadline(Callback):
    """End the fit at an epoch boundary (after its checkpoint and history row) when another epoch
    as long as the last one would end after `deadline` (time.monotonic()), by raising `Stop`."""

    order = orders.END_OF_EPOCH

    class Stop(Exception):
        pass

    def __init__(self, deadline: float):
        self.deadline = deadline

    def before_epoch(self):
        self.started = time.monotonic()

    def after_epoch(self):
        now = time.monotonic()
        if now + (now - self.started) > self.deadline:
            raise self.Stop("another epoch would end after the deadline")


class FrozenEncoderFirst(Callback):
    """DeOldify's schedule for a pretrained encoder (a DynamicUnet's `model[0]`): the first
    `epochs` train the decoder alone, the rest the whole network (at the discriminative rates
    that the fit's `slice` gives the encoder's and the decoder's parameter groups). Set from the
    epoch at every epoch's start, so a resumed run freezes exactly as a fresh one."""

    def __init__(self, epochs: int = 1):
        self.epochs = epochs

    def before_epoch(self):
        getattr(self.model, "generator", self.model)[0].requires_grad_(self.epoch >= self.epochs)

    def after_fit(self):
        getattr(self.model, "generator", self.model)[0].requires_grad_(True)


class RGBTargets(Callback):
    """For a generator of RGB (the DCGAN's `--output rgb`): replace each batch's ab target by the
    true RGB image in [-1, 1], so the L1 term and the critic work in RGB."""

    order = orders.RGB_TARGETS

    def before_batch(self):
        self.learn.yb = (model_to_rgb(self.xb[0], self.yb[0]) * 2 - 1,)


class HistoryCSVLogger(CSVLogger):
    """fastai's CSVLogger, appending, that writes the header only into a new file (the stock one
    repeats it at every fit, so each resume left a header line in the middle) and rows only for
    epochs that trained (fastai's validate() logs a row too)."""

    order = orders.HISTORY_CSV

    def before_epoch(self):
        self.trained = False

    def before_train(self):
        self.trained = True

    def _write_line(self, log):
        if getattr(self, "trained", False):
            super()._write_line(log)

    def before_fit(self):
        self.writing = not hasattr(self, "gather_preds") and rank_distrib() == 0  # one process writes the history
        if not self.writing:
            return
        path = self.path / self.fname
        fresh = not (path.exists() and path.stat().st_size)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("a")
        if fresh:
            self.file.write(",".join(self.recorder.metric_names) + "\n")
        self.old_logger, self.learn.logger = self.logger, self._write_line

    def after_fit(self):
        if self.writing:
            super().after_fit()


class TrainedEpochCallback(Callback):
    """Base for callbacks that write files after an epoch that trained. They stay idle during
    lr_find, get_preds and validate (fastai fires before_fit and after_epoch for those too),
    and in all but the first process of a multi-GPU run."""

    def before_fit(self):
        self.run = not hasattr(self.learn, "lr_finder") and not hasattr(self.learn, "gather_preds") and rank_distrib() == 0

    def before_epoch(self):
        self.trained = False

    def before_train(self):
        self.trained = True


class SaveLastCallback(TrainedEpochCallback):
    """After each epoch save model + optimizer as `last` and record the epoch, so `--resume`
    continues the same one-cycle schedule from the next epoch."""

    order = SaveModelCallback.order + 1

    def __init__(self, fname: str = "last"):
        self.fname = fname

    def after_epoch(self):
        if not self.trained:
            return
        with atomic_write((self.learn.path / self.learn.model_dir / f"{self.fname}.pth").absolute(), keep_suffix=True) as tmp:
            self.learn.save(tmp.with_suffix(""), with_opt=True)  # fastai adds .pth
        tracker = getattr(self.learn, "save_model", None)  # the keeper of the best checkpoint, if any
        state = {"epoch": self.epoch, "n_epoch": self.n_epoch, "best": getattr(tracker, "best", None)}
        write_json(self.state_path(self.learn.path / self.learn.model_dir, self.fname), state)

    @staticmethod
    def state_path(model_dir: Path, fname: str = "last") -> Path:
        return Path(model_dir) / f"{fname}.json"


class ValGridCallback(TrainedEpochCallback):
    """Write a PNG grid (gray | prediction | truth) of the same validation images after each epoch."""

    order = orders.VAL_GRID

    def __init__(self, path: Path, n: int = 8, decode=None):
        self.path, self.n, self.decode = Path(path), n, decode  # decode: as RGBPSNR's

    def before_fit(self):
        super().before_fit()
        self.val_x, self.val_y = evenly_spaced_valid(self.dls, self.n)

    def after_epoch(self):
        if not self.trained:
            return
        with torch.no_grad():
            generator = getattr(self.model, "generator", self.model)  # a GAN's, or the model itself
            was_training = generator.training
            generator.eval()
            pred = generator(self.val_x)
            pred = self.decode(pred) if self.decode else pred
            generator.train(was_training)
        gray = torch.zeros_like(self.val_y)
        prediction_grid(
            {"gray": model_to_rgb(self.val_x, gray), "prediction": output_to_rgb(self.val_x, pred), "truth": model_to_rgb(self.val_x, self.val_y)},
            self.path,
            title=f"epoch {self.epoch + 1}",
        )


def evenly_spaced_valid(dls, n: int):
    """(x, y) of `n` evenly spaced validation items, on the loaders' device: every class (the
    items are ordered by class), the same images at every call. From the whole set, also when
    the loader is sharded over processes."""
    dl = getattr(dls.valid, "dl", dls.valid)
    picks = torch.linspace(0, len(dl.dataset) - 1, min(n, len(dl.dataset))).long().tolist()
    return dl.after_batch(to_device(dl.create_batch([dl.do_item(i) for i in picks]), dls.device))


class AutocastMixedPrecision(MixedPrecision):
    """fastai's MixedPrecision autocasts on CUDA only; this one autocasts on the device the data
    is on, so bf16 also speeds up CPUs with bf16 matmul units."""

    def before_fit(self):
        device = torch.device(getattr(self.dls, "device", None) or "cpu").type
        dtype = torch.bfloat16 if self.amp_mode == AMPMode.BF16 else torch.float16
        self.kwargs["enabled"] = dtype == torch.float16  # bf16 has fp32's range: no loss scaling
        self.autocast = torch.autocast(device, dtype=dtype)
        self.learn.scaler, self.scales = torch.amp.GradScaler(device, **self.kwargs), L()

