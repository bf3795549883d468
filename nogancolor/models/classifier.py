"""The project's own small classifier on RGB images, trained on the study's dataset (CIFAR-10 or
photos): NoGAN's feature network, and the judge of whether
colorized images still look like their class.

VGG-style blocks (two 3x3 conv + batch norm + ReLU, then 2x2 max-pool), widths doubling. The
block outputs before each pool are the feature maps of the feature loss, as DeOldify takes
VGG16-bn's activations before its pools.
"""

from pathlib import Path

import torch
import torchvision
from fastai.callback.hook import num_features_model
from fastai.vision.learner import create_body
from torch import nn

from ..files import DEFAULT_CLASSIFIER, load_weights, read_config
from .names import JUDGE_ARCHS, SMALL_CLASSIFIER

# CIFAR-10 training-set channel statistics, the usual input normalisation for this dataset.
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class CifarNet(nn.Module):
    """RGB in [0, 1] -> class logits; `features(x)` -> the activation of every block."""

    def __init__(self, n_classes: int = 10, base: int = 32, n_blocks: int = 3):
        super().__init__()
        widths = [base * 2**i for i in range(n_blocks)]
        self.blocks = nn.ModuleList(_block(c_in, c_out) for c_in, c_out in zip([3, *widths], widths))
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(widths[-1], n_classes))
        self.register_buffer("mean", torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CIFAR_STD).view(1, 3, 1, 1))

    def features(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        x, feats = (rgb - self.mean) / self.std, []
        for i, block in enumerate(self.blocks):
            x = block(self.pool(x) if i else x)
            feats.append(x)
        return feats

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(rgb)[-1])


class CifarResNet(nn.Module):
    """torchvision's ResNet-18 in its CIFAR form (3x3 stem convolution at stride 1, no max-pool,
    as He et al.'s CIFAR-10 experiments): the stronger judge and feature network. `features(x)`
    -> the outputs of layer2, layer3 and layer4 (three maps, like CifarNet's three blocks)."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        net = torchvision.models.resnet18(weights=None, num_classes=n_classes)
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False), net.bn1, net.relu)
        self.blocks = nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), net.fc)
        self.register_buffer("mean", torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CIFAR_STD).view(1, 3, 1, 1))

    def features(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        x, feats = self.stem((rgb - self.mean) / self.std), []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats[1:]

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(rgb)[-1])


class EncoderClassifier(nn.Module):
    """A torchvision/timm classifier cut as fastai cuts DynamicUnet's encoder (`body`) with a
    pooled linear `head`; with n_in=1 it classifies the generators' input (scaled L), so its
    body is a pretrained encoder for them (`load_encoder`)."""

    def __init__(self, arch: str = "resnet18", n_in: int = 1, n_classes: int = 10):
        super().__init__()
        from .dynamic import encoder_backbone

        self.body = create_body(encoder_backbone(arch), n_in=n_in, pretrained=False)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(num_features_model(self.body), n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


FORMAT = "nogancolor-classifier"
JUDGES = dict(zip(JUDGE_ARCHS, (CifarNet, CifarResNet)))  # colour classifiers: feature nets and judges


def build_classifier(arch: str = SMALL_CLASSIFIER, gray: bool = False, base: int = 32, n_classes: int = 10) -> nn.Module:
    """A colour classifier of JUDGES, or with `gray` an encoder classifier of the L input, over
    `n_classes` classes (the prepared dataset's: 10 for CIFAR-10 and Imagenette, 200 for Tiny-ImageNet)."""
    if gray:
        return EncoderClassifier(arch, n_in=1, n_classes=n_classes)
    return CifarNet(n_classes, base=base) if arch == SMALL_CLASSIFIER else JUDGES[arch](n_classes)


def load_classifier(path: Path = DEFAULT_CLASSIFIER) -> tuple[nn.Module, dict]:
    """-> (colour classifier in eval mode, its model.json) from `train classifier`'s export."""
    config = read_config(path, FORMAT)
    arch = config.get("arch", SMALL_CLASSIFIER)
    if config.get("gray"):
        raise ValueError(f"{path} is a {arch} gray-image classifier, an encoder for --encoder; the feature loss and "
                         f"the metrics need a colour classifier ({' or '.join(JUDGES)}, `train classifier`)")
    return load_weights(build_classifier(arch, **config["arch_kwargs"]), path), config
