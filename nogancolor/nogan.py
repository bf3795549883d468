"""NoGAN, DeOldify's training schedule, as three resumable stages in one run directory:

    out/1-generator/  generator pretraining on the feature loss alone (a fastai Learner)
    out/2-critic/     critic pretraining as a plain binary classifier: real colour images vs the
                      frozen pretrained generator's outputs, both judged with their gray input
    out/3-gan/        a short joint phase on fastai's GANLearner from both pretrained networks,
                      validated every `val_every` batches (PSNR, colourfulness, FCD); the
                      checkpoint a stated realism rule chooses (nogancolor.selection) is
                      exported as out/model.safetensors + out/model.json

A stage is done when its export exists; `train_nogan` skips done stages, resumes an interrupted
one from its last checkpoint, and reruns every stage after one it had to run.
"""

import math
from pathlib import Path

import torch
from fastai.callback.core import Callback
from fastai.learner import Learner
from fastai.losses import BCEWithLogitsLossFlat
from fastai.metrics import accuracy_multi
from fastai.torch_core import default_device, num_distrib
from fastai.vision.gan import AdaptiveGANSwitcher, GANDiscriminativeLR

from .callbacks import FeedGray, SaveLastCallback, TrainBatchesPerEpoch
from .critics import PairCritic
from .distributed import start_processes
from .export import CheckpointError, load_generator, load_weights, read_config, save_weights
from .classify import DEFAULT_CLASSIFIER, load_classifier
from .figures import joint_phase_curves
from .gan import AdversarialLoss, gan_learner
from .learner import CHECKPOINT_DIR, adam, colorization_learner, for_device, fused_adamw, run_callbacks
from .losses import FeatureLoss
from .models import SMALL_ARCH
from .models.dynamic import DEOLDIFY_UNET
from .models.features import feature_net as load_feature_net
from .selection import RealismMetrics, SaveChosenCallback, select_checkpoint
from .training import build_run_generator, export_run_generator, run_training

STAGES = {1: "1-generator", 2: "2-critic", 3: "3-gan"}
CRITIC_FORMAT = "nogancolor-critic"


def stage_export(out: Path, stage: int) -> Path:
    """Where a stage's result goes; it exists once the stage is done."""
    out = Path(out)
    return out / "model.safetensors" if stage == 3 else out / STAGES[stage] / "model.safetensors"


def is_done(out: Path, stage: int) -> bool:
    return stage_export(out, stage).with_suffix(".json").exists()


def feature_loss_learner(dls, generator, features, path: Path = Path("."), log: bool = True, precision: str = "auto",
                         compile: bool = False):
    """Stage 1's Learner: the generator on DeOldify's feature loss (pixel L1 + L1 between the maps
    of the fixed network `features`), Adam, val PSNR; with `log`, run checkpoints and files."""
    loss = FeatureLoss(features)
    return colorization_learner(dls, generator, path, precision=precision, log=log, grid=log, loss_func=loss,
                                cbs=[FeedGray(loss)], compile=compile)


def pretrain_generator(out: Path, options: dict, features, resume=False, force=False, progress=True, device=None,
                       compile=False) -> dict:
    """Stage 1: the generator (the small U-Net, or DeOldify's DynamicUnet) on the feature loss,
    one-cycle Adam; exports the best epoch by val loss."""

    def build(dls, options):
        return feature_loss_learner(dls, build_run_generator(dls, options), features, out, precision=options["precision"],
                                    compile=compile)

    def fit(learn, n_epoch, lr, cbs):
        learn.fit_one_cycle(n_epoch, lr, cbs=cbs)

    return run_training(out, options, build, fit, export_run_generator("nogan-pretrained"), resume=resume,
                        force=force, progress=progress, device=device)


class RealVsFake(Callback):
    """Turns each (L, ab) batch into a binary classification batch for the critic: the real
    (gray, colour) pairs labelled 1 and the frozen generator's (gray, prediction) pairs
    labelled 0, so a plain fastai Learner trains the critic."""

    order = -10  # before anything reads xb/yb

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


def pretrain_critic(out: Path, options: dict, generator_path: Path, resume=False, force=False, progress=True,
                    device=None) -> dict:
    """Stage 2: fastai's spectral-norm `gan_critic` on (gray, colour) pairs against the pretrained
    generator, one-cycle Adam; exports the best epoch by val loss with its val accuracy."""
    generator, _ = load_generator(generator_path)

    def build(dls, options):
        return critic_learner(dls, generator, PairCritic(nf=options["critic_nf"]), out,
                              precision=options.get("precision", "auto"))

    def fit(learn, n_epoch, lr, cbs):
        learn.fit_one_cycle(n_epoch, lr, cbs=cbs)

    def finish(learn, dls, options):
        # rank 0 alone runs this: SaveModelCallback's after_fit would reload "best" through
        # fastai's load, which waits at a barrier for the other processes
        with learn.no_bar(), learn.removed_cbs(learn.save_model):
            val_loss, val_accuracy = learn.validate()
        config = {"format": CRITIC_FORMAT, "nf": options["critic_nf"], "split": options["split"], "epochs": options["epochs"],
                  "metrics": {"val_loss": float(val_loss), "val_accuracy": float(val_accuracy)}}
        save_weights(learn.model, learn.path / "model.safetensors", config)
        return config

    return run_training(out, options, build, fit, finish, resume=resume, force=force, progress=progress, device=device)


def load_critic(path: Path) -> tuple[PairCritic, dict]:
    config = read_config(path, CRITIC_FORMAT)
    return load_weights(PairCritic(nf=config["nf"]), path), config


def joint_learner(dls, generator, critic, features, feature_weight: float = 1.5, adv_weight: float = 1.0,
                  adv_balance: float | None = None, critic_thresh: float = 0.65, critic_lr_mult: float = 5.0,
                  wd: float = 1e-3, val_every: int | None = None,
                  classifier=None, n_realism: int = 1000, select: str = "fcd", psnr_floor: float | None = None,
                  path: Path = Path("."), log: bool = True, precision: str = "auto", compile: bool = False):
    """Stage 3's GANLearner from the pretrained networks, set as DeOldify's joint phase:
    generator loss = feature_weight * feature loss + adv_weight * adversarial; fastai's
    AdaptiveGANSwitcher trains the critic until its mean BCE falls under `critic_thresh`, then
    gives the generator a step; the critic steps at `critic_lr_mult` times the rate; AdamW with
    betas (0, 0.9) and weight decay `wd`. With `adv_balance`, the adversarial weight is set each
    step so its gradient is that many times the feature loss's (see AdversarialLoss). With
    `val_every`, an "epoch" is that many batches, so validation, the CSV history and the
    checkpoint choice come that often. With `classifier`,
    each validation also logs colourfulness and FCD on `n_realism` validation images; with
    `log`, the checkpoint `select` chooses (see nogancolor.selection) is kept as `best`."""
    if log and select == "fcd" and classifier is None:  # (without log nothing is kept, nothing chosen)
        raise ValueError("the fcd checkpoint rule needs the CIFAR-10 classifier (see `train classifier`), or use --select psnr")
    feature_loss = FeatureLoss(features)
    loss = AdversarialLoss(feature_loss, "g_feature", content_weight=feature_weight, adv_weight=adv_weight, real_label=1.0,
                           adv_balance=adv_balance)
    # our critic loss is the sum of the real and fake BCE terms; DeOldify's threshold is on their mean
    switcher = AdaptiveGANSwitcher(critic_thresh=2 * critic_thresh)
    cbs = [GANDiscriminativeLR(critic_lr_mult)] + ([TrainBatchesPerEpoch(val_every)] if val_every else [])
    if classifier is not None:
        cbs.append(RealismMetrics(classifier, n_realism))
    if log:
        cbs.append(SaveChosenCallback(select, psnr_floor))
    return gan_learner(dls, generator, critic, loss, switcher, fused_adamw(betas=(0.0, 0.9), weight_decay=wd),
                       feed_gray=(feature_loss,), path=Path(path), model_dir=CHECKPOINT_DIR, precision=precision,
                       compile=compile, cbs=[*cbs, *run_callbacks(path, best=False, log=log, grid=log)])


def joint_gan(out: Path, options: dict, features, generator_path: Path, critic_path: Path, resume=False, force=False,
              progress=True, device=None, compile=False) -> dict:
    """Stage 3: the joint phase in chunks of `val_every` batches that add up to `gan_epochs`
    passes over the training set; exports the checkpoint the `select` rule chooses (PSNR floor:
    the pretrained generator's val PSNR minus `max_psnr_drop`) to out/../model.* and draws the
    phase's curves to joint_phase.png."""
    pretrained = read_config(generator_path)["metrics"]
    psnr_floor = pretrained["val_psnr"] - options["max_psnr_drop"]
    judge = Path(options["classifier"] or DEFAULT_CLASSIFIER)  # logs colourfulness and FCD; the fcd rule needs it
    classifier = load_classifier(judge)[0] if options["select"] == "fcd" or judge.with_suffix(".json").exists() else None

    def build(dls, options):
        # each of several processes trains val_every batches of its own shard per chunk
        batches = options["gan_epochs"] * len(dls.train) / max(1, num_distrib())
        options["epochs"] = max(1, math.ceil(batches / options["val_every"]))
        return joint_learner(dls, load_generator(generator_path)[0], load_critic(critic_path)[0], features,
                             options["feature_weight"], options["adv_weight"], options.get("adv_balance"),
                             options["critic_thresh"],
                             options["critic_lr_mult"], options["wd"], options["val_every"], classifier,
                             options["n_realism"], options["select"], psnr_floor, out,
                             precision=options.get("precision", "auto"), compile=compile)

    def fit(learn, n_epoch, lr, cbs):
        learn.fit(n_epoch, lr, cbs=cbs)

    def extra(options, learn):
        rows = learn.save_model.best
        chosen = select_checkpoint(rows, options["select"], psnr_floor)
        truth = learn.realism_metrics.measure_truth() if classifier is not None else None
        joint_phase_curves(Path(out) / "history.csv", chosen, options["val_every"], psnr_floor, truth,
                           Path(out) / "joint_phase.png")
        return {"gan_epochs": options["gan_epochs"], "val_every": options["val_every"], "select": options["select"],
                "psnr_floor": psnr_floor, "chosen_validation": chosen + 1, "chosen_batch": (chosen + 1) * options["val_every"],
                "chosen_row": rows[chosen], "val_subset_colorfulness_true": truth, "pretrained_metrics": pretrained}

    finish = export_run_generator("nogan", extra=extra, dest=stage_export(Path(out).parent, 3))
    return run_training(out, options, build, fit, finish, resume=resume, force=force, progress=progress, device=device)


def train_nogan(data: Path, out: Path, split: str = "hue", stage: int | None = None, gen_epochs: int = 3,
                gen_lr: float = 2e-3, critic_epochs: int = 1, critic_lr: float = 1e-3, gan_epochs: float = 2.0,
                gan_lr: float = 1e-4, val_every: int = 100, feature_net: str = "cifar", classifier: Path | None = None,
                feature_weight: float = 1.5, adv_weight: float = 1.0, adv_balance: float | None = None,
                critic_thresh: float = 0.65,
                critic_lr_mult: float = 5.0, wd: float = 1e-3, select: str = "fcd", max_psnr_drop: float = 1.0,
                n_realism: int = 1000, arch: str = SMALL_ARCH, pretrained: bool = False, encoder: Path | None = None,
                bs: int = 64, base: int = 64, critic_nf: int = 64, precision: str = "auto", n_train: int | None = None,
                n_val: int | None = None, seed: int = 0, force: bool = False, progress: bool = True, device=None,
                compile: bool = False, log=print) -> dict:
    """Run the NoGAN stages in order (or only `stage`), skipping done ones and resuming an
    interrupted one; -> {stage: its exported config}. `arch`: "unet" (the small U-Net) or an
    encoder name for DeOldify's DynamicUnet (self-attention, spectral norm, blur), its encoder
    from ImageNet (`pretrained`) or a gray-CIFAR classifier (`encoder`). Every stage after one that ran is rerun,
    since it was built on the earlier result."""
    out = Path(out)
    start_processes(device or default_device())  # before the first message, which rank 0 alone prints
    deoldify = {} if arch == SMALL_ARCH else {"unet_kwargs": DEOLDIFY_UNET, "pretrained": pretrained,
                                              "encoder": str(encoder) if encoder else None}
    common = dict(data=str(data), split=split, arch=arch, **deoldify, bs=bs, base=base, feature_net=feature_net,
                  classifier=str(classifier) if classifier else None, precision=precision, n_train=n_train, n_val=n_val,
                  seed=seed)
    features = load_feature_net(feature_net, classifier)  # fails early when the classifier is missing
    stages = {
        1: lambda **kw: pretrain_generator(out / STAGES[1], dict(common, epochs=gen_epochs, lr=gen_lr), features,
                                           compile=compile, **kw),
        2: lambda **kw: pretrain_critic(out / STAGES[2], dict(common, epochs=critic_epochs, lr=critic_lr, critic_nf=critic_nf),
                                        stage_export(out, 1), **kw),
        3: lambda **kw: joint_gan(out / STAGES[3], dict(common, epochs=None, lr=gan_lr, gan_epochs=gan_epochs, val_every=val_every,
                                                        feature_weight=feature_weight, adv_weight=adv_weight,
                                                        adv_balance=adv_balance,
                                                        critic_thresh=critic_thresh, critic_lr_mult=critic_lr_mult, wd=wd,
                                                        select=select, max_psnr_drop=max_psnr_drop, n_realism=n_realism),
                                  features, stage_export(out, 1),
                                  stage_export(out, 2), compile=compile, **kw),
    }
    names = {1: "generator pretraining", 2: "critic pretraining", 3: "joint GAN phase"}
    results, rerun = {}, force
    for n in [stage] if stage else list(stages):
        for earlier in range(1, n):
            if not is_done(out, earlier):
                raise CheckpointError(f"stage {n} needs stage {earlier} ({names[earlier]}) done first: "
                                      f"run `nogancolor train nogan` without --stage")
        if is_done(out, n) and not rerun:
            log(f"stage {n}/3 {names[n]}: done, skipped ({stage_export(out, n)})")
            results[n] = read_config(stage_export(out, n), CRITIC_FORMAT if n == 2 else "nogancolor-generator")
            continue
        stage_dir = out / STAGES[n]
        resume = not rerun and SaveLastCallback.state_path(stage_dir / CHECKPOINT_DIR).exists()
        log(f"stage {n}/3 {names[n]}: {'resuming' if resume else 'training'} in {stage_dir}")
        results[n] = stages[n](resume=resume, force=not resume, progress=progress, device=device)
        rerun = True
    return results
