"""Trained generators as safetensors weights + a JSON config: loading runs no pickled code.

`<stem>.safetensors` holds the tensors, `<stem>.json` says how to rebuild the model, so predict
and evaluate load any method's generator without knowing which method trained it.
"""

import json
import os
from pathlib import Path

import safetensors
import safetensors.torch
from torch import nn

from .color import AB_SCALE
from .models import build_generator

FORMAT = "nogancolor-generator"
FORMAT_VERSION = 1


def export_generator(model: nn.Module, path: Path, arch: str, img_size, arch_kwargs: dict | None = None, **info) -> Path:
    """Write `path` (.safetensors) and its .json config; `info` (method, split, metrics...) is kept as is."""
    config = {"format": FORMAT, "version": FORMAT_VERSION, "arch": arch, "arch_kwargs": arch_kwargs or {},
              "img_size": list(img_size), "ab_scale": AB_SCALE, **info}
    return save_weights(model, path, config)


def save_weights(model: nn.Module, path: Path, config: dict) -> Path:
    """Write the model's tensors to `path` (.safetensors) and `config` beside it (.json), each
    under a temporary name first, so an interrupted export never leaves half a file."""
    path = Path(path).with_suffix(".safetensors")
    tmp = path.with_name(path.name + ".tmp")
    safetensors.torch.save_model(model, str(tmp))
    os.chmod(tmp, 0o666 & ~_umask())  # safetensors writes 0600; give it the usual file mode
    tmp.replace(path)
    tmp_json = path.with_suffix(".json.tmp")
    tmp_json.write_text(json.dumps(config, indent=1) + "\n")
    tmp_json.replace(path.with_suffix(".json"))
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class CheckpointError(RuntimeError):
    """A file that is not a nogancolor generator, or a damaged one."""


def read_config(path: Path, fmt: str = FORMAT) -> dict:
    """The JSON config beside an exported model, checked to be of format `fmt`."""
    if Path(path).suffix not in (".safetensors", ".json"):
        raise CheckpointError(f"{path}: not an exported model (.safetensors + .json); pickled checkpoints such as "
                              ".pth files are never loaded, since unpickling can run code")
    path = Path(path).with_suffix(".json")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} is missing or not JSON ({e.__class__.__name__})") from e
    if not isinstance(config, dict) or config.get("format") != fmt:
        raise CheckpointError(f"{path.with_suffix('.safetensors')} is not a {fmt.replace('-', ' ')} (its config has no format {fmt!r})")
    return config


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Fill `model` from safetensors weights (no pickled code runs) -> the model in eval mode."""
    path = Path(path).with_suffix(".safetensors")
    try:
        safetensors.torch.load_model(model, str(path), strict=True)
    except (OSError, safetensors.SafetensorError, RuntimeError) as e:
        raise CheckpointError(f"{path} could not be loaded as safetensors weights ({e.__class__.__name__}: {str(e)[:120]})") from e
    return model.eval()


def load_generator(path: Path) -> tuple[nn.Module, dict]:
    """-> (model in eval mode, config) from an exported generator (.safetensors or .json path)."""
    config = read_config(path)
    model = build_generator(config["arch"], img_size=config["img_size"], output=config.get("output", "ab"), **config["arch_kwargs"])
    return load_weights(model, path), config
