"""NoGAN end to end: the three stages run, skip, resume and export (train_nogan on a tiny set)."""

import csv
import json
import math

import pytest
import torch
from PIL import Image

from nogancolor.color import model_to_rgb
from nogancolor.data import colorization_dls
from nogancolor.evaluation.metrics import colorfulness
from nogancolor.files import CheckpointError
from nogancolor.methods.nogan import (
    CriticStageConfig,
    GeneratorStageConfig,
    JointStageConfig,
    NoGANConfig,
    load_critic,
    train_nogan,
)
from nogancolor.methods.nogan.selection import select_checkpoint
from nogancolor.models import load_generator


def tiny(prepared, classifier) -> NoGANConfig:
    """A NoGAN config small enough for a test: two generator epochs, one critic epoch, one joint pass."""
    return NoGANConfig(data=str(prepared), bs=8, base=8, classifier=str(classifier), precision="fp32",
                       generator=GeneratorStageConfig(epochs=2), critic=CriticStageConfig(epochs=1, nf=8),
                       gan=JointStageConfig(epochs=1.0, val_every=2))



@pytest.fixture(scope="module")
def nogan_run(prepared, classifier, tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("nogan") / "run"
    messages = []
    results = train_nogan(tiny(prepared, classifier[0]), out, progress=False, log=messages.append)
    return out, results, messages


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_nogan_runs_three_stages_and_exports_each(nogan_run, prepared):
    out, results, messages = nogan_run
    assert [m.split(":")[0] for m in messages] == ["stage 1/3 generator pretraining", "stage 2/3 critic pretraining",
                                                     "stage 3/3 joint GAN phase"]
    pretrained, _ = load_generator(out / "1-generator" / "model.safetensors")
    final, config = load_generator(out / "model.safetensors")
    assert config["method"] == "nogan" and results[1].record["method"] == "nogan-pretrained"
    assert config["pretrained_metrics"] == results[1].record["metrics"]
    x = torch.randn(2, 1, 32, 32)
    assert not torch.allclose(final(x), pretrained(x))  # the joint phase moved the generator
    critic, critic_config = load_critic(out / "2-critic" / "model.safetensors")
    assert set(critic_config["metrics"]) == {"val_loss", "val_accuracy"} and critic_config["metrics"]["val_loss"] > 0
    assert [r["epoch"] for r in rows(out / "2-critic" / "history.csv")] == ["0"]
    assert [r["epoch"] for r in rows(out / "1-generator" / "history.csv")] == ["0", "1"]
    assert (out / "1-generator" / "val_grid.png").exists() and (out / "3-gan" / "val_grid.png").exists()


def test_joint_phase_validates_every_val_every_batches(nogan_run, prepared):
    out, results, _ = nogan_run
    n_batches = len(colorization_dls(prepared, "hue", bs=8).train)
    history = rows(out / "3-gan" / "history.csv")
    assert len(history) == math.ceil(1.0 * n_batches / 2) == results[3].record["epochs"]
    for row in history:
        assert float(row["train_loss"]) > 0
    assert any(row["g_feature"] != "None" for row in history)  # a chunk may hold critic steps only
    assert all(float(r["colorfulness"]) > 0 and float(r["fcd"]) > 0 for r in history)  # coloured, not the real images


def test_joint_phase_exports_the_checkpoint_its_rule_chooses_and_measures_it_truly(nogan_run, prepared):
    out, results, _ = nogan_run
    config = results[3].record
    history = [{k: float(r[k]) for k in ("psnr", "colorfulness", "fcd")} for r in rows(out / "3-gan" / "history.csv")]
    floor = config["pretrained_metrics"]["val_psnr"] - 1.0  # the default --max-psnr-drop
    assert config["select"] == "fcd" and config["psnr_floor"] == pytest.approx(floor)
    chosen = select_checkpoint(history, "fcd", floor)
    assert config["chosen_validation"] == chosen + 1 and config["chosen_batch"] == (chosen + 1) * 2
    assert config["metrics"]["val_psnr"] == pytest.approx(history[chosen]["psnr"], abs=1e-3)
    # the exported generator's colourfulness on the subset (all validation images here) is the logged one
    generator, _ = load_generator(out / "model.safetensors")
    gray, ab = _all_val(prepared)
    with torch.no_grad():
        measured = float(colorfulness(model_to_rgb(gray, generator(gray))).mean())
    assert measured == pytest.approx(history[chosen]["colorfulness"], rel=1e-4)
    assert config["val_subset_colorfulness_true"] == pytest.approx(float(colorfulness(model_to_rgb(gray, ab)).mean()), rel=1e-5)
    assert min(Image.open(out / "3-gan" / "joint_phase.png").size) > 200


def test_done_stages_are_skipped(nogan_run, prepared, classifier):
    out, _, _ = nogan_run
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    messages = []
    train_nogan(tiny(prepared, classifier[0]), out, progress=False, log=messages.append)
    assert all("done, skipped" in m for m in messages) and len(messages) == 3
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_an_interrupted_stage_resumes_and_later_stages_are_redone(nogan_run, prepared, classifier, tmp_path, stage):
    import shutil

    from nogancolor.methods.nogan import STAGES, stage_export

    out = tmp_path / "run"
    shutil.copytree(nogan_run[0], out)
    # as if the stage was killed in its last epoch: the one before checkpointed, nothing exported
    for later in range(stage, 4):
        stage_export(out, later).with_suffix(".json").unlink()
    state = out / STAGES[stage - 1].folder / "checkpoints" / "last.json"
    last = json.loads(state.read_text())["epoch"]
    state.write_text(json.dumps(dict(json.loads(state.read_text()), epoch=last - 1)))
    messages = []
    train_nogan(tiny(prepared, classifier[0]), out, progress=False, log=messages.append)
    assert [m.split(": ")[1].split(" ")[0] for m in messages] == ["done,"] * (stage - 1) + ["resuming"] + ["training"] * (3 - stage)
    epochs = [r["epoch"] for r in rows(out / STAGES[stage - 1].folder / "history.csv")]
    assert epochs[-1] == str(last) and len(epochs) == last + 2  # the resumed epoch is logged again, nothing lost


def test_a_stage_alone_needs_the_earlier_ones(prepared, classifier, tmp_path):
    with pytest.raises(CheckpointError, match="stage 2 needs stage 1"):
        train_nogan(tiny(prepared, classifier[0]), tmp_path / "run", stage=2, progress=False)


@pytest.mark.slow
def test_joint_phase_sweep_reruns_stage_3_per_variant_and_plots(nogan_run, prepared, tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    out, _, _ = nogan_run
    run = tmp_path / "compare-tiny" / "nogan-1234abcd" / "hue-s0"  # compare's layout
    shutil.copytree(out, run)
    # as if stage 1 had been adopted (--gen-from): its record is a U-Net's, and the sweep reads NoGAN's from stage 2
    adopted = json.loads((run / "1-generator" / "model.json").read_text())
    adopted["config"] = {"data": str(prepared), "epochs": 3, "lr": 2e-3}
    (run / "1-generator" / "model.json").write_text(json.dumps(adopted))
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "joint_phase_sweep.py"
    tiny = "gan_epochs=1.0,val_every=2,bs=8,n_train=null,n_val=null"
    result = subprocess.run([sys.executable, str(script), str(run),  # the run's own data and classifier
                             "--variant", f"w3:adv_weight=3,{tiny}", "--variant", f"b:adv_balance=0.5,{tiny}",
                             "--out", str(tmp_path / "sweep.jsonl"), "--plot", str(tmp_path / "sweep.png")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in (tmp_path / "sweep.jsonl").read_text().splitlines()]
    assert [(r["variant"], r["options"]["adv_weight" if r["variant"] == "w3" else "adv_balance"]) for r in lines] == [("w3", 3), ("b", 0.5)]
    for r in lines:  # each variant's export is its own stage 3 from the run's stages 1-2, which stay as they were
        sweep = run.parent / "sweeps" / f"hue-s0-{r['variant']}"
        assert json.loads((sweep / "model.json").read_text())["chosen_row"] == r["chosen"]
        assert (sweep / "1-generator" / "model.safetensors").read_bytes() == (run / "1-generator" / "model.safetensors").read_bytes()
    assert "g_adv_weight" in rows(run.parent / "sweeps" / "hue-s0-b" / "3-gan" / "history.csv")[0]
    assert (tmp_path / "sweep.png").stat().st_size > 10_000

def _all_val(prepared):
    dl = colorization_dls(prepared, "hue", bs=8).valid
    return dl.after_batch(dl.create_batch([dl.do_item(i) for i in range(len(dl.dataset))]))




def test_the_critic_starts_from_the_seeds_first_draw(nogan_run, prepared, classifier):
    """Stage 2 loads the pretrained generator before the run is seeded: building it draws random
    weights, which would otherwise move the critic's initial weights and the batch order."""
    from fastai.torch_core import set_seed

    from nogancolor.methods.nogan import CriticPretraining, networks
    from nogancolor.models.critics import PairCritic

    config = tiny(prepared, classifier[0])
    method = CriticPretraining(config, nogan_run[0], networks(config)[0])
    set_seed(config.seed, reproducible=True)
    learn = method.build(method.dataloaders())
    set_seed(config.seed, reproducible=True)
    method.dataloaders()
    expected = PairCritic(nf=config.critic.nf)
    assert all(torch.equal(a, b) for a, b in zip(learn.model.state_dict().values(), expected.state_dict().values()))


def test_progressive_sizes_each_stage_at_its_own(prepared, classifier, tmp_path):
    """DeOldify's progressive resizing over one prepared array: stage 1 at 32 px, then 64."""
    from dataclasses import replace

    config = tiny(prepared, classifier[0])
    config = replace(config, augment=True, generator=replace(config.generator, epochs=1),
                     critic=replace(config.critic, size=64), gan=replace(config.gan, size=64, epochs=0.5))
    results = train_nogan(config, tmp_path / "run", progress=False, log=lambda m: None)
    assert results[1].record["img_size"] == [32, 32] and results[3].record["img_size"] == [64, 64]
    assert [r.status for r in results.values()] == ["trained"] * 3
    stored = json.loads((tmp_path / "run" / "3-gan" / "run.json").read_text())
    assert stored["gan"]["size"] == 64 and stored["augment"] is True  # resumed runs read it back


@pytest.mark.parametrize("method", ["unet", "classify"])
def test_stage_1_can_be_an_exported_generator_whose_val_set_is_this_runs(nogan_run, prepared, classifier, tmp_path, method):
    """DeOldify's flow from any pretrained generator: a `train unet` or `train classify` export is
    adopted as stage 1 (copied, its val PSNR the joint phase's floor), the critic and joint phase
    train on it, the result is exported as the adopted network (its own width and head, not the
    config's), and one trained on another val set is refused."""
    from dataclasses import replace

    from nogancolor.methods import REGISTRY, train

    first = tmp_path / method
    record = train(REGISTRY[method].config(data=str(prepared), epochs=1, bs=8, base=4, precision="fp32"), first,
                   progress=False)
    base = tiny(prepared, classifier[0])  # base 8: the adopted generator's 4 must win
    config = replace(base, generator=replace(base.generator, from_model=str(first / "model.safetensors")),
                     gan=replace(base.gan, epochs=0.5))
    messages = []
    results = train_nogan(config, tmp_path / "run", progress=False, log=messages.append)
    assert messages[0] == f"stage 1/3 generator pretraining: taken from {first / 'model.safetensors'}"
    assert results[1].status == "adopted" and [results[n].status for n in (2, 3)] == ["trained", "trained"]
    assert (tmp_path / "run" / "1-generator" / "model.safetensors").read_bytes() == (first / "model.safetensors").read_bytes()
    final = results[3].record
    assert final["pretrained_metrics"] == record["metrics"]
    assert final["psnr_floor"] == pytest.approx(record["metrics"]["val_psnr"] - 1.0)
    assert (final["arch_kwargs"], final["output"]) == (record["arch_kwargs"], record["output"])
    adopted, (tuned, _) = load_generator(first / "model.safetensors")[0], load_generator(tmp_path / "run" / "model.safetensors")
    x = torch.randn(2, 1, 32, 32)
    assert not torch.allclose(adopted(x), tuned(x))  # the joint phase trained the adopted network
    again = []
    train_nogan(config, tmp_path / "run", progress=False, log=again.append)
    assert all("done, skipped" in m for m in again)
    with pytest.raises(CheckpointError, match="other settings \\(n_val None\\)"):
        train_nogan(replace(config, n_val=4), tmp_path / "other", progress=False)


def test_settings_added_or_renamed_after_studies_ran_keep_their_run_folders():
    """A setting marked `added` is left out of the run-folder digest at its default, and counts once
    set; the feature network renamed from `cifar` to `classifier` is hashed by its old name, and an
    old run's config reads as the new one."""
    from nogancolor.config import config_from_record, config_record
    from dataclasses import replace

    from nogancolor.study.profiles import PROFILES

    quick = PROFILES["quick"]
    nogan = quick.configs["nogan"]
    moved = replace(quick, configs={**quick.configs, "nogan": replace(nogan, generator=replace(
        nogan.generator, from_model="runs/unet/model.safetensors"))})
    assert quick.digest("nogan") == "ca30bff7" and moved.digest("nogan") != quick.digest("nogan")
    assert nogan.feature_net == "classifier"
    old = config_from_record(NoGANConfig, {**config_record(nogan), "feature_net": "cifar"})
    assert old == nogan
    imagenet = replace(quick, configs={**quick.configs, "nogan": replace(nogan, feature_net="imagenet")})
    assert imagenet.digest("nogan") != quick.digest("nogan")
