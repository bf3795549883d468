"""Names of the generators, importable without torch (configs and the command line use them)."""

SMALL_ARCH = "unet"  # the small U-Net of the method description; any other arch names a DynamicUnet encoder
SMALL_CLASSIFIER = "cifarnet"
FEATURE_NETS = ("cifar", "imagenet", "vgg16_bn")  # NoGAN's feature-loss networks (models/features.py)
JUDGE_ARCHS = (SMALL_CLASSIFIER, "cifar-resnet18")  # the project's colour classifiers (models/classifier.py)
