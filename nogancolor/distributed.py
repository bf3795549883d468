"""Training in several processes (`accelerate launch`, `torchrun`): DistributedDataParallel through
fastai's DistributedTrainer, made to work with our loaders and on CPUs (gloo) as on GPUs (NCCL).

What fastai's own path lacks here: its DistributedDL broadcasts each epoch's order as a CUDA
tensor (NCCL only) and takes the device from the model (absent on a CPU model); SyncBatchNorm
refuses CPU modules; nothing keeps the other processes from writing the run directory. So:
the process group starts before the run directory is touched, rank 0 alone writes it while the
others wait at a barrier, and each process trains on its own shard of every epoch's batches.
"""

import atexit
from contextlib import contextmanager

import torch
import torch.distributed as dist
from fastai.distributed import DistributedDL, DistributedTrainer, _round_to_multiple
from fastai.torch_core import num_distrib, rank_distrib


def is_distributed() -> bool:
    """Started by a multi-process launcher (WORLD_SIZE > 1)."""
    return num_distrib() > 1


def start_processes(device) -> None:
    """Join the process group now (accelerate picks gloo on CPUs, NCCL on GPUs), so barriers work
    before the Learner's fit, and leave it together at exit (a process that exits with gloo's
    threads still running can abort); a no-op in a single process."""
    if is_distributed() and not dist.is_initialized():
        from accelerate import PartialState

        PartialState(cpu=torch.device(device or "cpu").type != "cuda")
        atexit.register(_leave)


def _leave() -> None:
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


class ShardedDL(DistributedDL):
    """fastai's DistributedDL over a GatherDL: the epoch's positions come as one tensor, are
    broadcast from rank 0 on the process group's own device, and each rank keeps its slice."""

    def get_idxs(self):
        idxs = self.dl.get_idxs()
        idxs = idxs.tolist() if torch.is_tensor(idxs) else list(idxs)
        on = "cuda" if dist.get_backend() == "nccl" else "cpu"
        shared = torch.tensor(idxs, dtype=torch.long, device=on)
        dist.broadcast(shared, 0)  # every rank uses rank 0's order
        idxs = shared.cpu().tolist()
        self.n = len(idxs)
        self.n_padded = _round_to_multiple(self.n, self.world_size)
        idxs += (idxs * (self.n_padded // self.n))[:self.n_padded - self.n]  # as fastai: repeat to equal shares
        share = self.n_padded // self.world_size
        return idxs[self.rank * share:(self.rank + 1) * share]


class Trainer(DistributedTrainer):
    """fastai's DistributedTrainer with ShardedDL, the device taken from the data."""

    name = "distributed_trainer"

    def _wrap_dl(self, dl):
        return dl if isinstance(dl, DistributedDL) else ShardedDL(dl, device=dl.device)


def check_supported(learn) -> None:
    """Refuse, before anything is written, what several processes cannot train yet."""
    if is_distributed() and hasattr(learn, "gan_trainer"):
        raise NotImplementedError("training a GAN (train dcgan, NoGAN's joint phase) in several processes is not "
                                  "supported yet: its generator and critic take turns, which DistributedDataParallel "
                                  "of the pair does not follow; run it in one process")


@contextmanager
def distributed_fit(learn):
    """Inside, `learn` fits as one of several processes (DDP); the progress bar shows on rank 0
    only. SyncBatchNorm on GPUs only (it refuses CPU modules). `check_supported` first."""
    on_gpu = torch.device(learn.dls.device or "cpu").type == "cuda"
    trainer = Trainer(sync_bn=on_gpu, cpu=not on_gpu)
    learn.add_cb(trainer)
    progress = getattr(learn, "progress", None)
    if rank_distrib() and progress is not None:
        learn.remove_cb(progress)
    try:
        yield learn
    finally:
        learn.remove_cb(trainer)
        if rank_distrib() and progress is not None:
            learn.add_cb(progress)


def summed_over_processes(total, count: int):
    """(total, count) summed over all processes when training in several, else as given: for
    validation means, each process having seen its own shard."""
    if not (is_distributed() and dist.is_initialized()):
        return total, count
    on = "cuda" if dist.get_backend() == "nccl" else "cpu"
    both = torch.stack([torch.as_tensor(total, dtype=torch.float64).to(on).detach(),
                        torch.tensor(float(count), dtype=torch.float64, device=on)])
    dist.all_reduce(both)
    return both[0], int(both[1])
