"""nogancolor: grayscale-to-colour on fastai, with U-Net, conditional DCGAN and NoGAN compared on CIFAR-10.

Modules: `color` (sRGB <-> Lab in torch), `data` (prepared datasets, splits, DataLoaders),
`models` (generators), `learner` and `training` (fastai training runs), `export` (safetensors).
"""

__version__ = "0.1.0"
