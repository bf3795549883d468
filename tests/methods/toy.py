"""A method in one file, as a new method is added (docs/usage.md, "Adding a method"): the
generator on L1 of ab instead of the U-Net's MSE. Dropped into nogancolor/methods/ it is found by the
registry and gets `nogancolor train toy`, a row in `compare`'s table and figure, and a place in
predict's and serve's choice of model; tests/test_method_in_one_file.py runs it through all four."""

from dataclasses import dataclass

from ..config import setting
from .base import ColorizationMethod, GeneratorConfig, register


@dataclass(frozen=True)
class ToyConfig(GeneratorConfig):  # the generator by name: the small U-Net, or a DynamicUnet on any encoder
    base: int = setting(8, "Small U-Net: channels of the first layer.", min=1)
    epochs: int = setting(2, "Epochs of the one-cycle schedule.", min=1)
    lr: float = setting(2e-3, "Peak learning rate.")


@register("toy", "U-Net (L1)", ToyConfig, rank=4, preference=4)
class ToyMethod(ColorizationMethod):
    """Train the generator on L1 of ab (Adam, one-cycle); the best epoch by val loss is exported."""

    method = "toy"

    def build(self, dls):
        from fastai.losses import L1LossFlat  # torch and fastai load when a run starts, not when listed

        from ..train.learner import colorization_learner

        return colorization_learner(dls, self.generator(dls), self.out, loss_func=L1LossFlat(),
                                    split_encoder=self.encoder_is_pretrained())
