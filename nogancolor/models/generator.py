"""Generators by name: the small U-Net of the method description or fastai's DynamicUnet, built
from a config and loaded from an exported file."""

from pathlib import Path

import torch
from torch import nn

from ..color import rgb_output_to_ab
from ..files import load_weights, read_config
from .bins import BinsAsAB
from .dynamic import dynamic_unet
from .names import SMALL_ARCH
from .unet import UNet



class RGBAsAB(nn.Module):
    """Wraps a generator of RGB (3 channels in [-1, 1]) so it gives scaled ab like the others:
    predict, evaluate and the metrics then keep the input's exact L for every method."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        return rgb_output_to_ab(self.net(l_norm))


def build_generator(arch: str = SMALL_ARCH, img_size=(32, 32), pretrained: bool = False, output: str = "ab", **kwargs):
    """The generator named by a config: "unet" (small U-Net) or any encoder name for DynamicUnet;
    `output="rgb"`: a 3-channel RGB generator seen through RGBAsAB; `output="bins"`: a generator
    of `n_bins` logits seen through BinsAsAB (decoded at `temperature` and `vividness`, given its
    `log_weights`, at 1/`stride` of the resolution)."""
    if output == "rgb":
        return RGBAsAB(build_generator(arch, img_size, pretrained, out_channels=3, **kwargs))
    if output == "bins":
        decoding = {k: kwargs.pop(k) for k in ("temperature", "log_weights", "vividness", "stride") if k in kwargs}
        n_bins = kwargs.pop("n_bins")
        net = build_generator(arch, img_size, pretrained, out_channels=n_bins, bounded=False, **kwargs)
        return BinsAsAB(net, n_bins, **decoding)
    if arch == SMALL_ARCH:
        return UNet(**kwargs)
    if "out_channels" in kwargs:
        kwargs["n_out"] = kwargs.pop("out_channels")
    return dynamic_unet(arch, pretrained=pretrained, img_size=img_size, **kwargs)



def load_all_but_head(net: nn.Module, path: Path) -> nn.Module:
    """Fill `net` from an exported generator of the same architecture whose output layer differs
    (another number of channels): every tensor but that layer's weight and bias, which keep their
    fresh initialisation; -> `net` in eval mode. Refuses, in words, weights that differ anywhere else."""
    import safetensors.torch

    from ..files import CheckpointError

    theirs = safetensors.torch.load_file(str(Path(path).with_suffix(".safetensors")))
    mine = net.state_dict()
    differ = sorted(k for k in mine if k not in theirs or theirs[k].shape != mine[k].shape)
    name, layer = [(n, m) for n, m in net.named_modules() if any(True for _ in m.parameters(recurse=False))][-1]
    head = {f"{name}.{k}" for k in layer.state_dict()}
    if not set(differ) <= head or set(theirs) != set(mine):
        raise CheckpointError(f"{path} does not fit this generator beyond its output layer "
                              f"({len(differ)} tensors differ: {', '.join(differ[:3])}...)")
    net.load_state_dict({**mine, **{k: v.to(mine[k].dtype) for k, v in theirs.items() if k not in head}})
    return net.eval()


def load_generator(path: Path) -> tuple[nn.Module, dict]:
    """-> (model in eval mode, its model.json) from an exported generator (.safetensors or .json path)."""
    config = read_config(path)
    model = build_generator(config["arch"], img_size=config["img_size"], output=config.get("output", "ab"), **config["arch_kwargs"])
    return load_weights(model, path), config
