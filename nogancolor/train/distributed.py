"""Training in several processes (`accelerate launch`, `torchrun`): DistributedDataParallel through
fastai's DistributedTrainer, made to work with our loaders and on CPUs (gloo) as on GPUs (NCCL).

What fastai's own path lacks here: its DistributedDL broadcasts each epoch's order as a CUDA
tensor (NCCL only) and takes the device from the model (absent on a CPU model); SyncBatchNorm
refuses CPU modules; nothing keeps the other processes from writing the run directory; and DDP
cannot train a GANLearner (see `GANSteps`). So: the process group starts before the run
directory is touched, rank 0 alone writes it while the others wait at a barrier, and each
process trains on its own shard of every epoch's batches.
"""

import atexit
import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.distributed as dist
from fastai.callback.core import Callback, CancelBatchException
from fastai.distributed import DistributedDL, DistributedTrainer, _round_to_multiple
from fastai.torch_core import num_distrib, rank_distrib
from fastcore.basics import noop
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from . import orders

SHARDED = ContextVar("sharded", default=False)  # inside distributed_fit: each process sees its own shard


def is_distributed() -> bool:
    """Started by a multi-process launcher (WORLD_SIZE > 1)."""
    return num_distrib() > 1


def start_processes(device) -> None:
    """Join the process group now (accelerate picks gloo on CPUs, NCCL on GPUs), so barriers work
    before the Learner's fit, and leave it together at exit (a process that exits with gloo's
    threads still running can abort). Only rank 0 prints: the others' stdout is silenced (their
    errors and warnings still show on stderr). A no-op in a single process."""
    if is_distributed() and not dist.is_initialized():
        from accelerate import PartialState

        PartialState(cpu=torch.device(device or "cpu").type != "cuda")
        atexit.register(_leave)
        if rank_distrib():
            sys.stdout = open(os.devnull, "w")


def _leave() -> None:
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def collective_device() -> str:
    """Where the process group's tensors must be: CUDA for NCCL, the CPU for gloo."""
    return "cuda" if dist.get_backend() == "nccl" else "cpu"


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


class ShardedDL(DistributedDL):
    """fastai's DistributedDL over a GatherDL: the epoch's positions come as one tensor, are
    broadcast from rank 0 on the process group's own device, and each rank keeps its slice."""

    def get_idxs(self):
        idxs = self.dl.get_idxs()
        idxs = idxs.tolist() if torch.is_tensor(idxs) else list(idxs)
        shared = torch.tensor(idxs, dtype=torch.long, device=collective_device())
        dist.broadcast(shared, 0)  # every rank uses rank 0's order
        idxs = shared.cpu().tolist()
        self.n = len(idxs)
        self.n_padded = _round_to_multiple(self.n, self.world_size)
        idxs += (idxs * (self.n_padded // self.n))[:self.n_padded - self.n]  # as fastai: repeat to equal shares
        share = self.n_padded // self.world_size
        self.n_real = max(0, min(share, self.n - self.rank * share))  # the rest of this shard repeats others' items
        return idxs[self.rank * share:(self.rank + 1) * share]


def shard(dl):
    return dl if isinstance(dl, DistributedDL) else ShardedDL(dl, device=dl.device)


class Trainer(DistributedTrainer):
    """fastai's DistributedTrainer with ShardedDL, the device taken from the data."""

    name = "distributed_trainer"

    def _wrap_dl(self, dl):
        return shard(dl)


class GANSteps(Callback):
    """A GANLearner trained in several processes, each on its own shard: every process starts
    from rank 0's weights, and in each step the trained network's gradients and the loss are
    averaged over the processes, so all take the same optimizer step and the switcher makes
    the same choice; rank 0's batch-norm statistics go to all before validation.

    Not DistributedDataParallel: fastai's GANTrainer calls the critic twice in a critic step
    (real, then fake) and, frozen, inside the generator's loss, while DDP's reducer expects
    each parameter's gradient exactly once per backward; and wrapping the two networks
    separately would rename the keys of checkpoints saved during the fit."""

    order = DistributedTrainer.order
    name = "distributed_trainer"

    def before_fit(self):
        self.old_dls = list(self.dls)
        self.learn.dls.loaders = [shard(dl) for dl in self.dls]
        for tensor in [*self.model.parameters(), *self.model.buffers()]:
            dist.broadcast(tensor.data, 0)
        if rank_distrib():
            self.learn.logger = noop

    def before_train(self):
        self.learn.dl = shard(self.learn.dl)

    def before_validate(self):
        self.learn.dl = shard(self.learn.dl)
        for buffer in self.model.buffers():
            dist.broadcast(buffer, 0)

    def after_loss(self):
        if self.training:  # validation losses are summed over processes by their metrics
            loss = self.learn.loss.detach().clone()
            dist.all_reduce(loss)
            self.learn.loss = loss / num_distrib()

    def after_backward(self):
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]  # the frozen network has none
        if grads:
            flat = _flatten_dense_tensors(grads)
            dist.all_reduce(flat)
            flat /= num_distrib()
            for grad, mean in zip(grads, _unflatten_dense_tensors(flat, grads)):
                grad.copy_(mean)

    def after_fit(self):
        self.learn.dls.loaders = self.old_dls


class DropPadding(Callback):
    """In validation, leave out the items a shard repeats only to make the shares equal (see
    ShardedDL), so that the per-epoch metrics, summed over processes, count every validation
    image once: exactly what one process measures."""

    order = orders.DROP_PADDING

    def before_validate(self):
        self.left = None

    def before_batch(self):
        if self.training:
            return
        if self.left is None:  # the shard's order, and so its count, is drawn when iteration starts
            self.left = getattr(self.dl, "n_real", None)
        n = len(self.yb[0])
        keep = n if self.left is None else min(n, self.left)
        if self.left is not None:
            self.left -= keep
        if keep == n:
            return
        if keep == 0:
            self.learn.yb = ()  # fastai's Recorder then measures nothing for this batch
            raise CancelBatchException
        self.learn.xb, self.learn.yb = tuple(x[:keep] for x in self.xb), tuple(y[:keep] for y in self.yb)


@contextmanager
def distributed_fit(learn):
    """Inside, `learn` fits as one of several processes: DDP for one network, `GANSteps` for a
    GAN; the progress bar shows on rank 0 only. SyncBatchNorm in DDP on GPUs only (it refuses
    CPU modules)."""
    on_gpu = torch.device(learn.dls.device or "cpu").type == "cuda"
    trainer = GANSteps() if hasattr(learn, "gan_trainer") else Trainer(sync_bn=on_gpu, cpu=not on_gpu)
    learn.add_cbs([trainer, DropPadding()])
    progress = getattr(learn, "progress", None)
    if rank_distrib() and progress is not None:
        learn.remove_cb(progress)
    token = SHARDED.set(True)
    try:
        yield learn
    finally:
        SHARDED.reset(token)
        learn.remove_cbs([trainer, learn.drop_padding])
        if rank_distrib() and progress is not None:
            learn.add_cb(progress)


def summed_over_processes(total, count):
    """(total, count) summed over all processes inside `distributed_fit`, else as given: for
    validation means, each process having seen its own shard. (Outside, one process may
    evaluate alone, as rank 0 does for the export.) `total` and `count` may be numbers or
    tensors of any shape; one reduction either way; a number `count` comes back as an int."""
    if not SHARDED.get():
        return total, count
    totals = torch.as_tensor(total, dtype=torch.float64).detach().to(collective_device())
    counts = torch.as_tensor(count, dtype=torch.float64).detach().to(collective_device())
    both = torch.cat([totals.flatten(), counts.flatten()])
    dist.all_reduce(both)
    totals, counts = both[:totals.numel()].view(totals.shape), both[totals.numel():].view(counts.shape)
    return totals, (counts if torch.is_tensor(count) else int(counts))
