"""CIFAR-10, Imagenette, Tiny-ImageNet or any image folder as gray-filtered, split, Lab-converted
fastai DataLoaders. Names are imported from their module when first used, so the light ones
(`DATASETS`, `DEFAULT_DATA_DIR`, `DatasetError`) cost no torch import."""

import importlib

_WHERE = {
    "RGBToLAB": "dataloaders", "colorization_dls": "dataloaders", "subsample": "dataloaders",
    "DATASETS": "download", "dataset_name": "download", "download_dataset": "download",
    "DatasetError": "errors", "load_image_folder": "folder", "DEFAULT_GRAY_TOL": "config", "is_gray": "gray",
    "DATA_ROOT": "layout", "DEFAULT_DATA_DIR": "layout", "SPLIT_KINDS": "layout",
    "load_prepared": "prepare", "prepare_dataset": "prepare", "read_meta": "prepare",
    "load_split": "splits", "mean_hue": "splits", "save_split": "splits", "split_indices": "splits",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
