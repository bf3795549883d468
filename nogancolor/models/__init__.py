"""Networks, never training code: generators (the small U-Net, DynamicUnet), critics, classifiers,
fixed feature networks and the losses built on them. Names are imported from their module when
first used, so `models.names` and the other light modules cost no torch import."""

import importlib

_WHERE = {"SMALL_ARCH": "names", "RGBAsAB": "generator", "build_generator": "generator",
          "load_generator": "generator", "UNet": "unet", "dynamic_unet": "dynamic"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
