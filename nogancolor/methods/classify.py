"""Colour classification (Zhang et al., "Colorful Image Colorization", ECCV 2016): the generator
predicts a distribution over ab bins per pixel, trained on rebalanced cross-entropy against
soft-encoded targets, and is decoded by annealed mean. Regression (the U-Net), adversarial
training (DCGAN) and NoGAN all predict one ab per pixel; this one keeps the pixel's plausible
colours apart, and the exported model keeps its distribution head, so `predict --temperature`
chooses between vivid and safe colour without retraining."""

from dataclasses import dataclass, replace
from pathlib import Path

from ..config import check_temperature, setting
from .base import PHOTO_SUBSET, PRETRAINED_SUBSET, QUICK_SUBSET, ColorizationMethod, GeneratorConfig, register

SWEEP = (1.0, 0.75, 0.6, 0.5, 0.38, 0.3, 0.2)  # temperatures the export measures on the val set
VIVIDNESS_SWEEP = (1.0, 0.75, 0.5, 0.25, 0.0)  # and vividness, at the default temperature
SWEEP_FIGURE = "temperature_sweep.png"


@dataclass(frozen=True)
class ClassifyConfig(GeneratorConfig):
    epochs: int = setting(20, "Epochs of the one-cycle schedule.", min=1)
    lr: float = setting(2e-3, "Peak learning rate.")
    bin_size: float = setting(10.0, "Side of the square ab bins in CIE units; the bins that hold any training pixel "
                              "are the classes (Zhang et al. 2016: 10, 313 bins in gamut).", min=1)
    neighbours: int = setting(5, "Soft-encoding: each pixel's target is spread over its nearest bins, this many "
                              "(Zhang et al.: 5).", min=1)
    sigma: float = setting(5.0, "Gaussian sigma in CIE units of the soft-encoding and of the prior's smoothing (Zhang "
                           "et al.: 5).", min=0.1)
    rebalance: float = setting(0.5, "Class rebalancing lambda: pixel weights 1 / ((1 - lambda) p + lambda / Q) "
                               "against the training set's smoothed ab prior p over Q bins; 1 = no rebalancing "
                               "(Zhang et al.: 0.5).", min=0, max=1)
    stride: int = setting(1, "Predict the colour distribution at 1/stride of the resolution, logits and targets "
                          "stride x stride average-pooled, the ab upsampled bilinearly (Zhang et al.: 4); 1: every "
                          "pixel.", min=1, max=8, added=True)
    temperature: float = setting(0.38, "Annealed-mean temperature: the exported model's default, which predict "
                                 "--temperature overrides; lower is more vivid, 1 is the distribution's mean (Zhang "
                                 "et al.: 0.38).")

    def __post_init__(self):
        check_temperature(self.temperature, "--temperature")


@register("classify", "Classification", ClassifyConfig, rank=3, preference=3)
class ClassifyMethod(ColorizationMethod):
    """Train a generator of ab-bin logits on Zhang et al.'s rebalanced soft cross-entropy
    (Adam, one-cycle); the best epoch by validation loss is exported with its distribution head."""

    method = "classify"
    kind = "classification: a distribution over ab bins per pixel, rebalanced, decoded by annealed mean"
    # the U-Net's scales and schedule in every profile: the two differ in their loss alone
    profiles = {"quick": replace(ClassifyConfig(), epochs=3, **QUICK_SUBSET),
                "full": replace(ClassifyConfig(), epochs=10, bs=256, lr=4e-3),
                # photo: a quarter of the resolution makes a step 0.62x as long, a seed of the profile about an hour
                "photo": replace(ClassifyConfig(), base=32, epochs=5, stride=4, **PHOTO_SUBSET),
                "photo-full": replace(ClassifyConfig(), epochs=10, bs=128, lr=2.8e-3),
                "photo-pretrained": replace(ClassifyConfig(), epochs=2, **PRETRAINED_SUBSET)}
    checkpoint_rule = "the epoch with the lowest validation loss (rebalanced cross-entropy), as the U-Net's"

    def output(self) -> str:
        return "bins"

    def generator_kwargs(self) -> dict:
        import numpy as np

        return {**super().generator_kwargs(), "n_bins": len(self.bins), "temperature": self.config.temperature,
                "stride": self.config.stride, "log_weights": np.log(self.bins.weights).round(5).tolist()}

    def build(self, dls):
        import torch

        from ..data.ab_prior import ab_counts
        from ..models.bins import ColourBins, RebalancedSoftCE
        from ..train.learner import colorization_learner

        c = self.config
        self.bins = ColourBins(ab_counts(c.data, c.split, c.bin_size).numpy(), c.bin_size, c.sigma, c.rebalance)
        self.head = self.generator(dls)  # the logits' generator behind its annealed mean (BinsAsAB)
        self.head.centers.copy_(torch.from_numpy(self.bins.centers))
        loss = RebalancedSoftCE(self.bins, c.neighbours, c.sigma, c.stride)
        return colorization_learner(dls, self.head.net, self.out, loss_func=loss,
                                    split_encoder=self.encoder_is_pretrained(), decode=self.head.decode)

    def exported_generator(self, learn):
        return self.head

    def export_info(self, learn) -> dict:
        """The bins, and the colour / PSNR line along the decoding temperature on the val set
        (its figure beside the run): what `predict --temperature` chooses between."""
        from ..evaluation.figures import colour_against_psnr

        t = self.config.temperature
        sweep, gray_psnr = decoding_sweep(learn.dls.valid, self.head, [(s, 1.0) for s in SWEEP] +
                                          [(t, v) for v in VIVIDNESS_SWEEP if v != 1])
        by_t, by_v = sweep[:len(SWEEP)], [p for p in sweep if p["T"] == t]
        colour_against_psnr({"temperature T (vividness 1)": (by_t, "T"), f"vividness (T {t:g})": (by_v, "vividness")},
                            gray_psnr, self.out / SWEEP_FIGURE, f"{self.out.name}: decoding")
        return {"bins": {"n": len(self.bins), "bin_size": self.config.bin_size, "rebalance": self.config.rebalance,
                         "temperature": t},
                "temperature_sweep": {"val_psnr_gray_output": gray_psnr, "points": by_t},
                "vividness_sweep": {"val_psnr_gray_output": gray_psnr, "points": by_v}}

    @classmethod
    def figures(cls, run: Path) -> dict[str, tuple[Path, str]]:
        return {"temperature-sweep": (Path(run) / SWEEP_FIGURE,
                                      "Colour classification decoded at several temperatures and vividness levels "
                                      "(val set; colourfulness over the truth's against PSNR; the exported default is "
                                      f"T {ClassifyConfig.temperature}, vividness 1)")}


def decoding_sweep(dl, head, decodings) -> tuple[list[dict], float]:
    """-> ([{T, vividness, psnr, colourfulness_ratio}] per (temperature, vividness) of
    `decodings`, the gray output's PSNR) over a DataLoader of (L, ab): the logits are computed
    once per batch and decoded at each."""
    import torch

    from ..color import model_to_rgb
    from ..evaluation.metrics import colorfulness, psnr

    totals = {d: [0.0, 0.0] for d in decodings}
    gray = truth_colour = n = 0.0
    was_training = head.training
    head.eval()
    with torch.no_grad():
        for l_norm, ab_norm in dl:
            truth, logits = model_to_rgb(l_norm, ab_norm), head.net(l_norm)
            gray += psnr(model_to_rgb(l_norm, torch.zeros_like(ab_norm)), truth).sum().item()
            truth_colour += colorfulness(truth).sum().item()
            n += len(l_norm)
            for t, v in decodings:
                rgb = model_to_rgb(l_norm, head.decode(logits, t, v))
                totals[t, v][0] += psnr(rgb, truth).sum().item()
                totals[t, v][1] += colorfulness(rgb).sum().item()
    head.train(was_training)
    points = [{"T": t, "vividness": v, "psnr": p / n, "colourfulness_ratio": c / truth_colour}
              for (t, v), (p, c) in totals.items()]
    return points, gray / n
