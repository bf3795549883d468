"""NoGAN's stages as methods of the run contract, and the runner that takes them in order."""

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from fastai.torch_core import default_device, distrib_barrier, num_distrib, rank_distrib

from ...evaluation.figures import joint_phase_curves
from ...files import CheckpointError, read_config, save_weights, write_json
from ...models import load_generator
from ...models.classifier import load_classifier
from ...models.critics import PairCritic
from ...models.features import feature_net as load_feature_net
from ...models.imagenet import ImageNetJudge
from ...config import config_record
from ...data.prepare import prepared_name, read_meta
from ...train.distributed import start_processes
from ...train.run import continue_run, next_step
from ..base import ColorizationMethod
from .config import STAGES, NoGANConfig, is_done, stage_export
from .learners import CRITIC_FORMAT, critic_learner, feature_loss_learner, joint_learner, load_critic
from .selection import select_checkpoint


class NoGANStage(ColorizationMethod):
    """One stage of NoGAN in its folder of the NoGAN run; `stage` is its row of the STAGES table."""

    stage = STAGES[0]

    def __init__(self, config: NoGANConfig, out: Path, features, judge=None, compile: bool = False):
        super().__init__(config, Path(out) / self.stage.folder, compile)
        self.nogan_out, self.features, self.judge = Path(out), features, judge

    def stage_config(self):
        return getattr(self.config, self.stage.field)

    def size(self) -> int | None:
        return self.stage_config().size or self.config.size

    def n_epochs(self, dls) -> int:
        return self.stage_config().epochs

    def fit(self, learn, n_epoch, cbs):
        learn.fit_one_cycle(n_epoch, self.stage_config().lr, cbs=cbs)

    def export_path(self) -> Path:
        return stage_export(self.nogan_out, self.stage.number)

    def next_step(self, force: bool) -> str:
        return next_step(self, force=force)

    def continue_run(self, force: bool, progress: bool, device) -> tuple[dict | None, str]:
        return continue_run(self, force=force, progress=progress, device=device)


class GeneratorPretraining(NoGANStage):
    """Stage 1: the generator (the small U-Net, or DeOldify's DynamicUnet) on the feature loss,
    one-cycle Adam; exports the best epoch by val loss. With `generator.from_model`, an exported
    generator is adopted as this stage's result instead."""

    method, stage = "nogan-pretrained", STAGES[0]

    def next_step(self, force: bool) -> str:
        step = super().next_step(force)
        return "adopted" if self.config.generator.from_model and step != "skipped" else step

    def continue_run(self, force: bool, progress: bool, device) -> tuple[dict | None, str]:
        if self.next_step(force) != "adopted":
            return super().continue_run(force, progress, device)
        return adopt_generator(self.config, self.export_path()), "adopted"

    def build(self, dls):
        return feature_loss_learner(dls, self.generator(dls), self.features, self.out,
                                    split_encoder=self.encoder_is_pretrained())

    def fit(self, learn, n_epoch, cbs):
        lr, cbs = self.fit_rates(self.config.generator.lr, cbs)
        learn.fit_one_cycle(n_epoch, lr, cbs=cbs)


class CriticPretraining(NoGANStage):
    """Stage 2: fastai's spectral-norm `gan_critic` on (gray, colour) pairs against the pretrained
    generator, one-cycle Adam; exports the best epoch by val loss with its val accuracy."""

    stage = STAGES[1]

    @classmethod
    def summary(cls, record: dict) -> str:
        m = record["metrics"]
        return f"val accuracy {m['val_accuracy']:.4f} on real vs generated pairs, val loss {m['val_loss']:.4f}"

    def __init__(self, config: NoGANConfig, out: Path, features, judge=None, compile: bool = False):
        # never compiled: the spectral-norm critic fails under torch.compile (train/learner.py, for_device)
        super().__init__(config, out, features, judge, compile=False)
        # loaded here, before run_training seeds the run: building it draws random initial weights,
        # which would shift the critic's initial weights and the batch order drawn after the seed
        self.pretrained = load_generator(stage_export(out, 1))[0]

    def build(self, dls):
        return critic_learner(dls, self.pretrained, PairCritic(nf=self.config.critic.nf), self.out)

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
    the phase's curves to joint_phase.png, as the network stage 1 exported (its arch, arch_kwargs
    and output: an adopted generator's may differ from this config's). `judge`: the colour
    classifier for colourfulness and FCD (None: not measured; the fcd rule needs it)."""

    method, stage = "nogan", STAGES[2]

    def __init__(self, config: NoGANConfig, out: Path, features, judge=None, compile: bool = False):
        super().__init__(config, out, features, judge, compile)
        self.stage_1 = read_config(stage_export(out, 1))
        self.pretrained = self.stage_1["metrics"]
        self.psnr_floor = self.pretrained["val_psnr"] - config.gan.max_psnr_drop

    def arch(self) -> str:
        return self.stage_1["arch"]

    def generator_kwargs(self) -> dict:
        return self.stage_1["arch_kwargs"]

    def output(self) -> str:
        return self.stage_1.get("output", "ab")

    def n_epochs(self, dls) -> int:
        # each of several processes trains val_every batches of its own shard per chunk
        batches = self.config.gan.epochs * len(dls.train) / max(1, num_distrib())
        return max(1, math.ceil(batches / self.config.gan.val_every))

    def build(self, dls):
        return joint_learner(dls, load_generator(stage_export(self.nogan_out, 1))[0],
                             load_critic(stage_export(self.nogan_out, 2))[0], self.features, self.config.gan, self.judge,
                             self.psnr_floor, path=self.out)

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


ADOPTABLE_OUTPUTS = ("ab", "bins")  # the joint phase trains what the generator's forward gives: ab, decoded from bins


def adopt_generator(config: NoGANConfig, to: Path) -> dict | None:
    """Copy the exported generator `config.generator.from_model` (of ab, or of colour bins decoded
    to ab: `train classify`) to stage 1's export `to` (rank 0 alone; -> its record there, None
    elsewhere), refusing one whose val metrics come from another val set than this run's."""
    source = Path(config.generator.from_model)
    record = read_config(source)
    if record.get("output", "ab") not in ADOPTABLE_OUTPUTS:
        raise CheckpointError(f"{source} predicts {record['output']}; NoGAN goes on from a generator of ab or of colour "
                              "bins: give a `train unet` or `train classify` model")
    theirs = {**record.get("config", {}), "dataset": record.get("dataset_name")}
    ours = {"dataset": prepared_name(read_meta(config.data)), **{k: getattr(config, k) for k in ("split", "n_val")}}
    differ = [k for k in ours if k in theirs and theirs[k] != ours[k]]
    if differ:
        raise CheckpointError(f"{source} was trained with other settings ({', '.join(f'{k} {theirs[k]}' for k in differ)}): "
                              "the joint phase's PSNR floor is its val PSNR, so it must come from this run's val set")
    if rank_distrib() == 0:
        to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, to)
        record = {**record, "adopted_from": str(source)}
        write_json(to.with_suffix(".json"), record)
    distrib_barrier()
    return record if rank_distrib() == 0 else None


@dataclass(frozen=True)
class StageResult:
    """What `train_nogan` did with a stage: "skipped" (done before), "resumed", "trained" or
    "adopted" (stage 1 taken from an exported generator), and
    the stage's export record (None in all but the first of several processes)."""

    stage: int
    status: str
    record: dict | None


def networks(config: NoGANConfig):
    """-> (feature network, judge or None), loading each network once when it is both: the judge
    measures colourfulness and FCD, and the fcd rule needs it (`config.realism_judge` names it)."""
    features = load_feature_net(config.feature_net, config.classifier_path)  # fails early when it is missing
    if config.realism_judge == "imagenet":
        return features, features.net if config.feature_net == "imagenet" else ImageNetJudge()
    path = config.classifier_path
    if config.gan.select != "fcd" and not path.with_suffix(".json").exists():
        return features, None
    if config.feature_net == "classifier":
        return features, features.net
    return features, load_classifier(path)[0]


STAGE_METHODS = (GeneratorPretraining, CriticPretraining, JointPhase)  # in the order of STAGES


def train_nogan(config: NoGANConfig, out: Path, stage: int | None = None, force: bool = False, progress: bool = True,
                device=None, compile: bool = False, log=print) -> dict[int, StageResult]:
    """Run the NoGAN stages in order (or only `stage`), skipping done ones and resuming an
    interrupted one; -> {stage: StageResult}. Every stage after one that ran is rerun, since it
    was built on the earlier result. `compile`: torch.compile the generator (speed only)."""
    out = Path(out)
    start_processes(device or default_device())  # before the first message, which rank 0 alone prints
    features, judge = networks(config)
    results, rerun = {}, force
    for kind in [STAGE_METHODS[stage - 1]] if stage else STAGE_METHODS:
        n = kind.stage.number
        for earlier in STAGES[:n - 1]:
            if not is_done(out, earlier.number):
                raise CheckpointError(f"stage {n} needs stage {earlier.number} ({earlier.name}) done first: "
                                      f"run `nogancolor train nogan` without --stage")
        method = kind(config, out, features, judge, compile)
        todo = method.next_step(force=rerun)
        log(f"stage {n}/{len(STAGES)} {kind.stage.name}: " + (
            f"done, skipped ({method.export_path()})" if todo == "skipped" else
            f"taken from {config.generator.from_model}" if todo == "adopted" else
            f"{'resuming' if todo == 'resumed' else 'training'} in {method.out}"))
        record, status = method.continue_run(force=rerun, progress=progress, device=device)
        results[n] = StageResult(n, status, record)
        rerun = rerun or status != "skipped"
    return results
