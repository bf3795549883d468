"""Probe NoGAN's joint phase: rerun stage 3 of one finished NoGAN run under variants of its
options, each from the same pretrained generator and critic, and print what each exported (its
chosen validation row) beside the most colourful validation it passed. Validation subset only:
nothing here looks at the test set, so its results may pick defaults.

    python benchmarks/joint_phase_sweep.py runs/compare-quick/nogan-ca30bff7/hue-s0 \\
        --variant default --variant balance1:adv_balance=1 --out sweep.jsonl

A variant is NAME[:option=value,...]: fields of the joint phase's JointStageConfig (adv_weight,
adv_balance, critic_lr_mult, val_every, ...; gan_epochs for its epochs) or of NoGANConfig (bs,
n_train, ...); the rest is the run's own config, as its critic stage stored it. `--plot PNG`
draws every variant swept from that run so far (no --variant: only draw) as colourfulness
against PSNR per validation, with the goals' lines: where the checkpoints could be.
"""

import argparse
import csv
import json
import shutil
import time
from pathlib import Path

import torch
from matplotlib.figure import Figure

from dataclasses import fields, replace

from nogancolor.evaluation.figures import save_figure
from nogancolor.files import read_config
from nogancolor.methods.nogan import STAGES, JointStageConfig, NoGANConfig, train_nogan
from nogancolor.config import config_from_record


def sweep_dir(run: Path, name: str) -> Path:
    return run.parent / "sweeps" / f"{run.name}-{name}"


def parse_variant(text: str) -> tuple[str, dict]:
    name, _, options = text.partition(":")
    return name, {k: json.loads(v) for k, v in (o.split("=", 1) for o in options.split(",") if o)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a NoGAN run made by `nogancolor compare` (stages 1 and 2 done)")
    parser.add_argument("--variant", action="append", default=[], help="NAME[:option=value,...]")
    parser.add_argument("--data", type=Path, default=None, help="default: the run's own")
    parser.add_argument("--classifier", type=Path, default=None, help="default: the one the run trained with")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="append each variant's result to this JSON-lines file")
    parser.add_argument("--plot", type=Path, default=None, help="draw the run's sweeps into this PNG")
    parser.add_argument("--unet", type=Path, default=None, help="the U-Net run of the same split and seed (for --plot)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pretrained = read_config(args.run / STAGES[0].folder / "model.safetensors")
    # the run's NoGAN config as its critic stage stored it (stage 1's may be an adopted generator's, --gen-from)
    record = json.loads((args.run / STAGES[1].folder / "run.json").read_text())
    base = config_from_record(NoGANConfig, record, f"{args.run}'s config")
    base = replace(base, data=str(args.data or base.data),
                   classifier=str(args.classifier) if args.classifier else base.classifier)
    for name, options in map(parse_variant, args.variant or ([] if args.plot else ["default"])):
        out = sweep_dir(args.run, name)
        for stage in (1, 2):  # the same pretrained networks for every variant
            shutil.copytree(args.run / STAGES[stage - 1].folder, out / STAGES[stage - 1].folder, dirs_exist_ok=True)
        start = time.perf_counter()
        config = train_nogan(variant_config(base, options), out, stage=3, force=True, progress=False,
                             log=lambda m: None)[3].record
        with (out / STAGES[2].folder / "history.csv").open() as f:
            history = list(csv.DictReader(f))
        richest = max(history, key=lambda r: float(r["colorfulness"]))
        result = {"run": str(args.run), "variant": name, "options": options, "minutes": (time.perf_counter() - start) / 60,
                  "chosen_validation": config["chosen_validation"], "chosen": config["chosen_row"],
                  "most_colourful": richest, "truth_colorfulness": config["val_subset_colorfulness_true"]}
        print(json.dumps(result))
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(result) + "\n")
    if args.plot:
        plot_sweeps(args.run, pretrained["metrics"]["val_psnr"], args.unet, args.plot)


def variant_config(base: NoGANConfig, options: dict) -> NoGANConfig:
    """`base` with a variant's options: joint-phase fields go to its `gan` part (gan_epochs to its epochs)."""
    joint = {f.name for f in fields(JointStageConfig)} - {"epochs"}
    gan = {("epochs" if k == "gan_epochs" else k): v for k, v in options.items() if k in joint or k == "gan_epochs"}
    rest = {k: v for k, v in options.items() if k not in joint and k != "gan_epochs"}
    return replace(base, gan=replace(base.gan, **gan), **rest)


def plot_sweeps(run: Path, pretrained_psnr: float, unet: Path | None, path: Path):
    """Val colourfulness against val PSNR at every validation of every variant (line in time
    order, star at the exported checkpoint, its FCD written beside it), with the rule's PSNR
    floor, the U-Net's val PSNR - 1 dB and 0.75 x the real images' colourfulness."""
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    ax = fig.subplots()
    truth = None
    for out in [run, *sorted(sweep_dir(run, "*").parent.glob(f"{run.name}-*"))]:  # the run itself: the profile's defaults
        if not (out / "model.json").exists():
            continue
        config = json.loads((out / "model.json").read_text())
        with (out / STAGES[2].folder / "history.csv").open() as f:
            rows = list(csv.DictReader(f))
        psnr, colour = [float(r["psnr"]) for r in rows], [float(r["colorfulness"]) for r in rows]
        line = ax.plot(psnr, colour, marker=".", alpha=0.7, label="profile" if out == run else out.name.removeprefix(f"{run.name}-"))[0]
        chosen = config["chosen_row"]
        ax.plot(chosen["psnr"], chosen["colorfulness"], "*", markersize=14, color=line.get_color())
        ax.annotate(f"FCD {chosen['fcd']:.2f}", (chosen["psnr"], chosen["colorfulness"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
        truth = config["val_subset_colorfulness_true"]
    ax.axvline(pretrained_psnr - 1, color="grey", linestyle=":", label="rule's floor (pretrained - 1 dB)")
    if unet is not None:
        unet_psnr = json.loads((unet / "model.json").read_text())["metrics"]["val_psnr"]
        ax.axvline(unet_psnr - 1, color="black", linestyle="--", label="U-Net - 1 dB")
    if truth is not None:
        ax.axhline(0.75 * truth, color="tab:green", linestyle="--", label="0.75 x real colourfulness")
    ax.set(xlabel="val PSNR (dB)", ylabel="colourfulness (val subset)",
           title=f"{run.name}: joint phase per validation (star: exported)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    save_figure(fig, path)


if __name__ == "__main__":
    main()
