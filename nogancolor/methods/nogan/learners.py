"""NoGAN's three Learners: the generator on the feature loss (stage 1), the critic as a plain
binary classifier of real vs generated colours (stage 2), and the joint GANLearner (stage 3)."""

from pathlib import Path

import torch
from fastai.callback.core import Callback
from fastai.learner import Learner
from fastai.losses import BCEWithLogitsLossFlat
from fastai.metrics import accuracy_multi
from fastai.vision.gan import AdaptiveGANSwitcher, GANDiscriminativeLR

from ...files import load_weights, read_config
from ...models.critics import PairCritic
from ...models.losses import FeatureLoss
from ...train import orders
from ...train.callbacks import FeedGray, TrainBatchesPerEpoch
from ...train.gan import AdversarialLoss, gan_learner
from ...train.learner import CHECKPOINT_DIR, adam, colorization_learner, fused_adamw, run_callbacks
from .config import JointStageConfig
from .selection import RealismMetrics, SaveChosenCallback

CRITIC_FORMAT = "nogancolor-critic"


def feature_loss_learner(dls, generator, features, path: Path = Path("."), log: bool = True, split_encoder: bool = False):
    """Stage 1's Learner: the generator on DeOldify's feature loss (pixel L1 + L1 between the maps
    of the fixed network `features`), Adam, val PSNR; with `log`, run checkpoints and files."""
    loss = FeatureLoss(features)
    return colorization_learner(dls, generator, path, log=log, grid=log, loss_func=loss, cbs=[FeedGray(loss)],
                                split_encoder=split_encoder)


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


def critic_learner(dls, generator, critic, path: Path = Path("."), log: bool = True) -> Learner:
    """Stage 2's Learner: `critic` as a binary classifier (BCE on logits, accuracy) of real vs the
    frozen `generator`'s colours; with `log`, best/last checkpoints and a CSV history."""
    learn = Learner(dls, critic, loss_func=BCEWithLogitsLossFlat(), opt_func=adam, metrics=[accuracy_multi],
                    path=Path(path), model_dir=CHECKPOINT_DIR,
                    cbs=[RealVsFake(generator), *run_callbacks(path, best=True, log=log, grid=False)])
    return learn


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
    floor `psnr_floor`) is kept as `best`. Other keywords (path) go to `gan_learner`."""
    c = config
    if log and c.select == "fcd" and classifier is None:  # (without log nothing is kept, nothing chosen)
        raise ValueError("the fcd checkpoint rule needs the project's classifier (see `train classifier`) or --feature-net "
                         "imagenet, or use --select psnr")
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
