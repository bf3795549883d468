"""Names of the generators, importable without torch (configs and the command line use them)."""

SMALL_ARCH = "unet"  # the small U-Net of the method description; any other arch names a DynamicUnet encoder
SMALL_CLASSIFIER = "cifarnet"
# DeOldify's generator settings for fastai's DynamicUnet (the JSON-safe form an export keeps)
DEOLDIFY_UNET = {"self_attention": True, "blur": True, "norm_type": "spectral"}
FEATURE_NETS = ("classifier", "imagenet", "vgg16_bn")  # NoGAN's feature-loss networks (models/features.py)
# "classifier" was "cifar" until the project's classifier was trained on photos too: old runs' configs
# read as the new name, and study digests hash it as the old one, so their run folders stay
RENAMED_FEATURE_NETS = {"cifar": "classifier"}
JUDGE_ARCHS = (SMALL_CLASSIFIER, "cifar-resnet18")  # the project's colour classifiers (models/classifier.py)
