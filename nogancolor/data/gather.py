"""A fastai DataLoader that makes each batch with one gather from tensors on its device.

fastai's stock loader fetches every item in Python and collates the batch on the host: about
12,000 images/s on our CPUs, far below what a GPU trains the small U-Net at. Our items are
indices into uint8 tensors (in memory or memory-mapped), so a batch is just `tensor[idx]`.
`GatherDL` moves the tensors of its items to a GPU once (on the CPU it reads each batch's rows
from them), draws a seeded permutation on its device each epoch (from
fastai's per-loader rng, so `set_seed` gives the same batches), and cuts it into batches; the
batch transforms (the Lab conversion) then run on the same device. The item path of fastai
stays intact, so `show_batch`, `one_batch`, `get_preds`, `test_dl` and `lr_find` work as usual.
"""

import torch
from fastai.data.core import TfmdDL


class GatherDL(TfmdDL):
    """TfmdDL over integer items: `sources[k][item]` is the k-th element of an item (the same
    tensors its DataBlock's getters index), one tensor per element of a batch."""

    def __init__(self, dataset=None, sources=(), **kwargs):
        super().__init__(dataset, num_workers=0, **{k: v for k, v in kwargs.items() if k != "num_workers"})
        self.sources, self._placed = tuple(sources), None

    def new(self, dataset=None, cls=None, **kwargs):
        return super().new(dataset, cls, **{"sources": self.sources, **kwargs})

    def _where(self) -> torch.device:
        return self.device or torch.device("cpu")

    def placed(self) -> tuple[torch.Tensor | None, tuple[torch.Tensor, ...]]:
        """-> (the items' rows, the sources) for batches on this loader's device. On a GPU, each
        source's item rows are copied there once (rows None: positions index them directly; a
        tensor two sources share is copied once). On the CPU the sources stay as they are and a
        batch reads its rows from them: a memory-mapped dataset is read batch by batch, never
        held whole in memory."""
        device = self._where()
        if self._placed is None or self._placed[0] != device:
            items = torch.as_tensor(list(self.dataset.items), dtype=torch.long)
            if device.type == "cpu":
                self._placed = (device, items, self.sources)
            else:
                copies = {}
                for source in self.sources:
                    if id(source) not in copies:
                        copies[id(source)] = source[items].to(device)
                self._placed = (device, None, tuple(copies[id(s)] for s in self.sources))
        return self._placed[1:]

    def get_idxs(self):
        """Positions of this epoch's items: a permutation drawn on the device when shuffling."""
        device = self._where()
        if not self.shuffle:
            return torch.arange(self.n, device=device)
        generator = torch.Generator(device=device)
        generator.manual_seed(self.rng.randint(0, 2**62))
        return torch.randperm(self.n, generator=generator, device=device)

    def sample(self):
        """All of this epoch's positions at once: what fastai's __iter__ got from get_idxs (which
        get_preds may have replaced by a fixed order); no per-item filtering, there are no workers."""
        return self._DataLoader__idxs

    def create_batches(self, samps):
        """One gather per batch. `samps` is our permutation, or any sequence of positions (fastai's
        DistributedDL hands over each process's share as a list)."""
        rows, sources = self.placed()
        if not torch.is_tensor(samps):
            samps = torch.tensor([int(i) for i in samps], dtype=torch.long)
        samps = samps.to(self._where())
        n_parts = len(self.dataset.tls)  # 1 for a test_dl of inputs only
        for idx in samps.split(self.bs):
            if self.drop_last and len(idx) < self.bs:
                return
            at = idx if rows is None else rows[idx]
            yield tuple(source[at].to(self._where()) for source in sources[:n_parts])
