"""nogancolor: grayscale-to-colour on fastai, with U-Net, conditional DCGAN and NoGAN compared on CIFAR-10
and on real photos.

Folders by role, each building only on those before it: `color` and `files` (the shared basics),
`data`, `models`, `evaluation`, `train`, `methods`, `study`, `apps` (docs/usage.md says more).
"""

__version__ = "0.1.0"
