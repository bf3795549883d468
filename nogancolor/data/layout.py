"""Where prepared datasets live and which splits they have: names every command's defaults use,
importable without torch so the command line starts at once."""

from pathlib import Path

DATA_ROOT = Path("data")  # each dataset is prepared in data/<its name> unless told otherwise
DEFAULT_DATA_DIR = DATA_ROOT / "cifar10"
SPLIT_KINDS = ("random", "hue")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}  # what counts as an image file
