"""NoGAN, DeOldify's training schedule, as three resumable stages in one run directory:

    out/1-generator/  generator pretraining on the feature loss alone (a fastai Learner)
    out/2-critic/     critic pretraining as a plain binary classifier: real colour images vs the
                      frozen pretrained generator's outputs, both judged with their gray input
    out/3-gan/        a short joint phase on fastai's GANLearner from both pretrained networks,
                      validated every `val_every` batches (PSNR, colourfulness, FCD); the
                      checkpoint a stated realism rule chooses (selection.py) is exported as
                      out/model.safetensors + out/model.json

This package's config.py holds the configs and the stage table, and this module the registered
method, both light to import. The stages run in stages.py, on the Learners of
learners.py; a stage is done when its export exists, so the runner skips done stages, resumes an
interrupted one from its last checkpoint, and reruns every stage after one it had to run. Every
stage's run.json holds the whole NoGANConfig; each stage reads its own part of it.
"""

import json
from dataclasses import replace
from pathlib import Path

from ...train.method import Method, history_rows
from ..base import PHOTO_SUBSET, PRETRAINED_SUBSET, QUICK_SUBSET, ColorizationMethod, register
from .config import STAGES, CriticStageConfig, GeneratorStageConfig, JointStageConfig, NoGANConfig, is_done, stage_export

__all__ = ["STAGES", "CriticStageConfig", "GeneratorStageConfig", "JointStageConfig", "NoGAN", "NoGANConfig", "is_done",
           "stage_export"]


@register("nogan", "NoGAN", NoGANConfig, rank=2, preference=0)
class NoGAN(Method):
    """Train NoGAN (DeOldify's schedule): 1) the generator on a feature loss, 2) a critic as a
    binary classifier of real vs generated colours, 3) a short joint GAN phase. Done stages are
    skipped and an interrupted one resumes; the final generator is <out>/model.safetensors."""

    kind = "regression on a feature loss, then a short GAN phase against a pretrained critic"
    stages = tuple(s.name for s in STAGES)
    checkpoint_rule = ("its generator pretraining the epoch with the lowest validation loss; its joint phase the "
                       "checkpoint with the lowest FCD on a fixed validation subset among those whose val PSNR stays "
                       "within 1 dB of its pretrained generator's (`--select fcd`, `--max-psnr-drop 1`; curves below)")
    trains_on_classifier = True  # its feature loss and its checkpoint rule's FCD
    # photo: the joint phase is two passes (312 batches): after half a pass the random split's FCD
    # was still falling (docs/results)
    profiles = {
        "quick": replace(NoGANConfig(), **QUICK_SUBSET, generator=GeneratorStageConfig(epochs=2),
                         critic=CriticStageConfig(epochs=1), gan=replace(JointStageConfig(), epochs=2, val_every=10)),
        "full": replace(NoGANConfig(), bs=256, generator=GeneratorStageConfig(epochs=10, lr=4e-3),
                        critic=CriticStageConfig(epochs=3, lr=2e-3), gan=replace(JointStageConfig(), epochs=2, val_every=10)),
        "photo": replace(NoGANConfig(), base=32, **PHOTO_SUBSET, generator=GeneratorStageConfig(epochs=5),
                         critic=CriticStageConfig(epochs=1),
                         gan=replace(JointStageConfig(), epochs=2.0, val_every=24, n_realism=500)),
        "photo-full": replace(NoGANConfig(), bs=128, generator=GeneratorStageConfig(epochs=10, lr=2.8e-3),
                              critic=CriticStageConfig(epochs=3, lr=1.4e-3),
                              gan=replace(JointStageConfig(), epochs=1.0, val_every=10, n_realism=500)),
        # its feature loss in ImageNet features, as DeOldify's (VGG16 there); the checkpoint judged in
        # them too, the adversarial term held at half the feature loss's gradient (else the feature
        # loss, near 260, drowns it), two passes of joint phase and the 1 dB of PSNR the study's goal
        # allows: the lowest ImageNet-feature distance of the four methods on 5 of 6 seeds and splits
        # (docs/results, 2026-12-03)
        "photo-pretrained": replace(NoGANConfig(), **PRETRAINED_SUBSET, feature_net="imagenet",
                                    generator=GeneratorStageConfig(epochs=2), critic=CriticStageConfig(epochs=1),
                                    gan=replace(JointStageConfig(), epochs=2.0, val_every=12, n_realism=500,
                                                adv_balance=0.5, judge="imagenet", max_psnr_drop=1.0))}

    @classmethod
    def run_name(cls, config) -> str:
        return f"nogan-{config.split}"

    summary = ColorizationMethod.summary  # its export is a generator's, as any colorization method's

    @classmethod
    def train(cls, config, out: Path, resume: bool = False, force: bool = False, progress: bool = True, device=None,
              compile: bool = False, stage: int | None = None, log=print) -> dict | None:
        """All stages (or `stage` alone), each continued where it stopped; -> the exported NoGAN's
        record when the last stage ran (the earlier stages' results are logged), else None."""
        from .stages import STAGE_METHODS, train_nogan

        results = train_nogan(config, out, stage=stage, force=force, progress=progress, device=device, compile=compile,
                              log=log)
        for n, result in results.items():
            if result.record is not None and n < STAGES[-1].number:  # None in all but the first of several processes
                log(f"{STAGES[n - 1].name}: {STAGE_METHODS[n - 1].summary(result.record)}")
        last = results.get(STAGES[-1].number)
        return last.record if last else None

    @classmethod
    def history(cls, run: Path) -> list[tuple[float, float, float]]:
        """Generator pretraining's epochs, then the joint phase's validations at fractional epochs after them."""
        first = [(int(r["epoch"]) + 1, float(r["train_loss"]), float(r["psnr"]))
                 for r in history_rows(Path(run) / STAGES[0].folder / "history.csv")]
        chunks = history_rows(Path(run) / STAGES[2].folder / "history.csv")
        step = json.loads((Path(run) / "model.json").read_text())["gan_epochs"] / max(len(chunks), 1)
        return first + [(len(first) + step * (i + 1), float(r["train_loss"]), float(r["psnr"])) for i, r in enumerate(chunks)]

    @classmethod
    def figures(cls, run: Path) -> dict[str, tuple[Path, str]]:
        return {"joint-phase": (Path(run) / STAGES[2].folder / "joint_phase.png",
                                "NoGAN's joint phase (PSNR on the validation set; colourfulness and FCD on a fixed evenly "
                                "spaced validation subset; dashed: the exported checkpoint)")}

    @classmethod
    def study(cls, config, out: Path, force: bool = False, progress: bool = True, device=None,
              compile: bool = False) -> dict | None:
        from .stages import train_nogan

        return train_nogan(config, out, force=force, progress=progress, device=device, compile=compile,
                           log=lambda m: None)[STAGES[-1].number].record


def __getattr__(name: str):
    """The heavy parts by their old names (`from nogancolor.methods.nogan import train_nogan`)."""
    import importlib

    for module in ("stages", "learners"):
        found = importlib.import_module(f"{__name__}.{module}")
        if hasattr(found, name):
            return getattr(found, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
