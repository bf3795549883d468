"""The project's files: every write is atomic, and models are safetensors weights + a JSON config.

`<stem>.safetensors` holds the tensors, `<stem>.json` says how to rebuild the model (its format,
architecture, and the config that trained it), so predict and evaluate load any method's
generator without knowing which method trained it, and loading runs no pickled code. torch and safetensors are imported where a model is written or
read, so reading a config (and naming the project's paths) stays light.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

FORMAT = "nogancolor-generator"
FORMAT_VERSION = 1
DEFAULT_CLASSIFIER = Path("runs/classifier/model.safetensors")  # where `train classifier` puts the project's classifier


@contextmanager
def atomic_write(path: Path, keep_suffix: bool = False):
    """Yield a temporary path beside `path`, hidden and ending in .tmp (so no listing of finished
    files matches it), or with `keep_suffix` ending in `path`'s suffix, for writers that take the
    format from it; rename it to `path` when the block ends, remove it if the block fails.
    Readers never see half a file, and an interrupted write leaves the old one."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}" if keep_suffix else f".{path.name}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, record: dict) -> Path:
    """Atomic JSON write (the folder is made if needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    return path


def export_generator(model: nn.Module, path: Path, arch: str, img_size, arch_kwargs: dict | None = None, **info) -> Path:
    """Write `path` (.safetensors) and its .json config; `info` (method, split, metrics...) is kept as is."""
    from .color import AB_SCALE

    config = {"format": FORMAT, "version": FORMAT_VERSION, "arch": arch, "arch_kwargs": arch_kwargs or {},
              "img_size": list(img_size), "ab_scale": AB_SCALE, **info}
    return save_weights(model, path, config)


def save_weights(model: nn.Module, path: Path, config: dict) -> Path:
    """Write the model's tensors to `path` (.safetensors) and `config` beside it (.json), each
    under a temporary name first, so an interrupted export never leaves half a file."""
    import safetensors.torch

    path = Path(path).with_suffix(".safetensors")
    with atomic_write(path) as tmp:
        safetensors.torch.save_model(model, str(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # safetensors writes 0600; give it the usual file mode
    write_json(path.with_suffix(".json"), config)
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
    if not Path(path).exists():
        raise CheckpointError(f"{path}: no such file")
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
    import safetensors
    import safetensors.torch

    path = Path(path).with_suffix(".safetensors")
    try:
        safetensors.torch.load_model(model, str(path), strict=True)
    except (OSError, safetensors.SafetensorError, RuntimeError) as e:
        raise CheckpointError(f"{path} could not be loaded as safetensors weights ({e.__class__.__name__}: {str(e)[:120]})") from e
    return model.eval()


def project_path(path) -> str:
    """A path as a report names it: relative to the project (the working folder), never the
    absolute path of the machine it ran on; other sources (a download's name) as they are."""
    return os.path.relpath(path) if os.path.isabs(str(path)) else str(path)
