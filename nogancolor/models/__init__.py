"""Generators: the small U-Net of the method description and fastai's DynamicUnet."""

from .dynamic import dynamic_unet
from .unet import UNet

SMALL_ARCH = "unet"


def build_generator(arch: str = SMALL_ARCH, img_size=(32, 32), pretrained: bool = False, **kwargs):
    """The generator named by a config: "unet" (small U-Net) or any encoder name for DynamicUnet."""
    if arch == SMALL_ARCH:
        return UNet(**kwargs)
    return dynamic_unet(arch, pretrained=pretrained, img_size=img_size, **kwargs)


__all__ = ["SMALL_ARCH", "UNet", "build_generator", "dynamic_unet"]
