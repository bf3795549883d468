"""Networks, never training code: generators (the small U-Net, DynamicUnet), critics, classifiers,
fixed feature networks and the losses built on them."""

from .dynamic import dynamic_unet
from .generator import SMALL_ARCH, RGBAsAB, build_generator, load_generator
from .unet import UNet

__all__ = ["SMALL_ARCH", "RGBAsAB", "UNet", "build_generator", "dynamic_unet", "load_generator"]
