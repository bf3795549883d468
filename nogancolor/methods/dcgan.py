"""The conditional DCGAN baseline: a generator of the project's (the small U-Net by default; no
noise) against a (gray, colour) discriminator, adversarial loss + lambda * L1, Adam(lr, beta1) at a constant rate; the
generator after the last epoch is exported (GAN losses do not rank checkpoints)."""

from dataclasses import dataclass, replace

from ..models.names import SMALL_ARCH
from ..config import setting
from .base import (ARCH_HELP, ENCODER_HELP, PHOTO_SUBSET, PRETRAINED_HELP, PRETRAINED_SUBSET, QUICK_SUBSET, ColorizationMethod,
                   GeneratorConfig, register)

OUTPUTS = ("ab", "rgb")


@dataclass(frozen=True)
class DCGANConfig(GeneratorConfig):
    # the generator's choice came after the studies ran: `added`, so their run folders keep their names
    arch: str = setting(SMALL_ARCH, ARCH_HELP, added=True)
    base: int = setting(64, "Channels of the first layer of the small U-Net and of the discriminator.", min=1)
    pretrained: bool = setting(False, PRETRAINED_HELP, added=True)
    encoder: str | None = setting(None, ENCODER_HELP, added=True)
    l1_weight: float = setting(100.0, "lambda: weight of the L1 term in the generator's loss.")
    real_label: float = setting(0.9, "Target for real pairs (one-sided label smoothing; 1 = none).")
    d_steps: int = setting(1, "Discriminator steps per generator step.", min=1)
    beta1: float = setting(0.5, "Adam's beta1 for both networks (DCGAN: 0.5).")
    output: str = setting("ab", "ab: predict a and b, keep L exactly (like the other methods); rgb: the seed's 3-channel "
                          "RGB generator and discriminator.", choices=OUTPUTS)
    epochs: int = setting(20, "Epochs at a constant learning rate.", min=1)
    lr: float = setting(2e-4, "Adam learning rate of both networks.")

    def __post_init__(self):
        if self.output not in OUTPUTS:
            raise ValueError(f"unknown output space {self.output!r}; choose ab or rgb")



def dcgan_learner(dls, generator, discriminator, config: DCGANConfig = DCGANConfig(), cbs=(), **kwargs):
    """The conditional DCGAN's Learner: adversarial + `l1_weight` * L1, Adam(beta1),
    `d_steps` discriminator steps per generator step; `output="rgb"`: generator and
    discriminator work on 3-channel RGB in [-1, 1] (the seed's variant) instead of ab. Other
    keywords go to `gan_learner`.

    Both networks stay in train mode while training, as in DCGAN and pix2pix. fastai's default
    (switch_eval=True) puts the network being judged in eval mode: the discriminator then scores
    fakes with batch-norm running statistics during generator steps, which weakened the
    adversarial term to the point of an L1 regressor; it also validated the generator in train
    mode. `benchmarks/gan_critic_mode.py` measures both settings."""
    import torch.nn.functional as F
    from fastai.vision.gan import FixedGANSwitcher

    from ..train.callbacks import RGBTargets
    from ..train.gan import AdversarialLoss, gan_learner
    from ..train.learner import fused_adam

    loss = AdversarialLoss(F.l1_loss, "g_l1", content_weight=config.l1_weight, real_label=config.real_label)
    if config.output == "rgb":
        cbs = [RGBTargets(), *cbs]
    return gan_learner(dls, generator, discriminator, loss, FixedGANSwitcher(n_crit=config.d_steps, n_gen=1),
                       fused_adam(betas=(config.beta1, 0.999)), cbs, **kwargs)


@register("dcgan", "DCGAN", DCGANConfig, rank=1, preference=2)
class DCGANMethod(ColorizationMethod):
    """Train the conditional DCGAN baseline: U-Net generator vs a (gray, colour) discriminator,
    adversarial loss + lambda * L1, on fastai's GANLearner; logs G and D losses per epoch. With
    --output rgb it is exported behind RGBAsAB, so its colours join the input's L like every
    method's."""

    method = "dcgan"
    kind = "adversarial: a conditional GAN from the first step, with an L1 term"
    checkpoint_rule = "its last epoch (GAN losses do not rank checkpoints)"
    profiles = {"quick": replace(DCGANConfig(), epochs=3, **QUICK_SUBSET),
                "full": replace(DCGANConfig(), epochs=20, bs=256),
                "photo": replace(DCGANConfig(), base=32, epochs=5, **PHOTO_SUBSET),
                "photo-full": replace(DCGANConfig(), epochs=20, bs=128),
                "photo-pretrained": replace(DCGANConfig(), base=32, epochs=2, **PRETRAINED_SUBSET)}

    def output(self) -> str:
        return self.config.output

    @classmethod
    def run_name(cls, config) -> str:
        arch = "" if config.arch == SMALL_ARCH else f"{config.arch}-"
        return "dcgan-" + arch + ("rgb-" if config.output == "rgb" else "") + config.split

    def build(self, dls):
        from ..models.critics import PairDiscriminator
        from ..train.learner import CHECKPOINT_DIR, run_callbacks
        from .base import image_size

        c = self.config
        channels = 3 if c.output == "rgb" else 2
        # the small U-Net is built without a look at a batch, which would move the batch order the seed gives
        generator = self.generator_at(None if c.arch == SMALL_ARCH else image_size(dls))
        generator = generator.net if c.output == "rgb" else generator  # trained in RGB (RGBTargets), exported as ab
        return dcgan_learner(dls, generator, PairDiscriminator(color_channels=channels, base=c.base), c,
                             cbs=run_callbacks(self.out, best=False), path=self.out, model_dir=CHECKPOINT_DIR)

    def fit(self, learn, n_epoch, cbs):
        # a pretrained encoder trains with the rest from the start, at --lr (2e-4, the U-Net encoder's rate under
        # DeOldify's schedule): the GAN trainer sets which network trains at each step, so no part stays frozen
        learn.fit(n_epoch, self.config.lr, cbs=cbs)
