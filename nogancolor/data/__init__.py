"""CIFAR-10, Imagenette or any image folder as gray-filtered, split, Lab-converted fastai DataLoaders."""

from .dataloaders import RGBToLAB, colorization_dls, subsample
from .download import DATASETS, dataset_name, download_dataset
from .errors import DatasetError
from .folder import load_image_folder
from .gray import DEFAULT_GRAY_TOL, is_gray
from .prepare import DATA_ROOT, DEFAULT_DATA_DIR, load_prepared, prepare_dataset, read_meta
from .splits import SPLIT_KINDS, load_split, mean_hue, save_split, split_indices

__all__ = [
    "DATASETS", "DATA_ROOT", "DEFAULT_DATA_DIR", "DEFAULT_GRAY_TOL", "SPLIT_KINDS", "DatasetError", "RGBToLAB",
    "colorization_dls", "dataset_name", "download_dataset", "is_gray", "load_image_folder", "load_prepared",
    "load_split", "mean_hue", "prepare_dataset", "read_meta", "save_split", "split_indices", "subsample",
]
