"""fastai's DynamicUnet on a torchvision or timm encoder, for L -> ab."""

import timm
import torchvision
from fastai.vision.models.unet import DynamicUnet
from fastai.vision.learner import create_body
from torch import nn


def encoder_backbone(arch: str, pretrained: bool = False) -> nn.Module:
    """A classifier to cut into an encoder: torchvision's model of that name, else timm's."""
    try:
        if arch in torchvision.models.list_models(module=torchvision.models):
            return torchvision.models.get_model(arch, weights="DEFAULT" if pretrained else None)
        if timm.is_model(arch):
            return timm.create_model(arch, pretrained=pretrained)
    except (OSError, RuntimeError) as e:  # offline, or a broken download cache
        raise ValueError(f"could not fetch pretrained weights for {arch} ({e.__class__.__name__}); "
                         "connect to the internet or train without --pretrained") from e
    raise ValueError(f"unknown encoder {arch!r}: not a torchvision or timm model name")


def dynamic_unet(arch: str = "resnet18", pretrained: bool = False, img_size=(32, 32), n_in: int = 1, n_out: int = 2, **kwargs) -> DynamicUnet:
    """DynamicUnet whose encoder takes `n_in` channels (pretrained first-conv weights are summed
    over RGB by fastai) and whose output lies in [-1, 1] like the small U-Net's tanh."""
    encoder = create_body(encoder_backbone(arch, pretrained), n_in=n_in, pretrained=pretrained)
    return DynamicUnet(encoder, n_out, tuple(img_size), y_range=(-1, 1), **kwargs)
