"""The photo model that ships inside the package, so `nogancolor predict photos/` works on a
fresh install: a generator trained here on real photographs, its weights in fp16 safetensors
and its card (model.json plus how it was made and measured) beside it.

`bundle(run_model, card)` writes a trained export into the package; `bundled_model()` is where
predict and serve find it when runs/ holds no model. Replace it only with one measured better on
the same card's metrics: every version stays in git history.
"""

from pathlib import Path

from ..files import CheckpointError, project_path, read_config, save_weights

BUNDLED = Path(__file__).with_name("bundled") / "photo.safetensors"
MAX_BYTES = 30_000_000  # what a package may carry


def bundled_model(path: Path | None = None) -> Path:
    """The bundled model's path, checked to load (one clear error when missing or damaged)."""
    path = Path(path or BUNDLED)
    if not path.with_suffix(".json").exists() or not path.exists():
        raise CheckpointError(f"the bundled photo model is missing from this install ({path}); reinstall nogancolor, "
                              "or train one (`nogancolor train nogan`) or pass --model")
    read_config(path)  # a damaged config fails here, in words (damaged weights when it loads)
    return path


def describe(config: dict) -> str:
    """One line about a model: method, training data and size, and one measured figure with the
    set it was measured on: its card's on full-size photos through predict (the figure the
    README shows), else its val PSNR."""
    size = "x".join(map(str, config.get("img_size", [])))
    line = f"{config.get('method', 'model')} trained on {config.get('dataset_name') or Path(str(config.get('dataset'))).name} at {size} px"
    card = config.get("card", {})
    measured = card.get("metrics_full_size") or card.get("metrics")
    if measured:
        return line + (f"; on {measured['set']}: colourfulness {measured['colorfulness_ratio']:.2f}x the truth's, RGB "
                       f"PSNR {measured['psnr_gain_db']:+.2f} dB over the gray input")
    psnr = config.get("metrics", {}).get("val_psnr")
    return line + (f"; val PSNR {psnr:.2f} dB on its validation images at {size} px" if psnr else "")


def bundle(run_model: Path, card: dict, dest: Path | None = None, render_size: int | None = None,
           temperature: float | None = None, vividness: float | None = None) -> Path:
    """Write the trained generator at `run_model` into the package in fp16, with its model.json
    and `card` (data, command, seed, machine, metrics) under "card"; `render_size` (and for a
    colour-classification model `temperature` and `vividness`): the one measured best for it,
    predict's default for it. Refused above MAX_BYTES."""
    import torch

    from ..models import load_generator

    model, config = load_generator(run_model)
    if config.get("dataset"):  # the card names its data relative to the project
        config["dataset"] = project_path(config["dataset"])
    dest = Path(dest or BUNDLED)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if render_size:
        config["render_size"] = render_size
    if temperature:
        model.temperature = config["arch_kwargs"]["temperature"] = temperature
    if vividness is not None:
        model.vividness = config["arch_kwargs"]["vividness"] = vividness
    save_weights(model.to(torch.float16), dest, {**config, "card": card})
    size = dest.stat().st_size
    if size > MAX_BYTES:
        dest.unlink()
        raise CheckpointError(f"{run_model} is {size / 1e6:.1f} MB in fp16, over the {MAX_BYTES / 1e6:.0f} MB a package may carry")
    read_config(dest)
    return dest
