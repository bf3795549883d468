"""The methods: each module (or package) here is one method, found by name: it declares its config
and its Method class (the contract of train/method.py) and enters them into REGISTRY with
`register`. Every module of this folder is imported here, and each is light to import (torch and
fastai load when a run starts), so listing the methods costs nothing and adding a method is
adding a file."""

import importlib
import pkgutil

from .base import REGISTRY, ColorizationConfig, ColorizationMethod, Registered, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def by_rank() -> list[Registered]:
    """The compared methods in the reports' order."""
    return sorted((r for r in REGISTRY.values() if r.compared), key=lambda r: r.rank)


def by_preference() -> tuple[str, ...]:
    """The compared methods' names, the one predict and serve prefer first."""
    return tuple(r.name for r in sorted((r for r in REGISTRY.values() if r.compared), key=lambda r: r.preference))


def registered_for(config) -> Registered:
    """The method whose config `config` is."""
    found = [r for r in REGISTRY.values() if r.config is type(config)]
    if not found:
        raise ValueError(f"no registered method takes a {type(config).__name__}")
    return found[0]


def train(config, out, **kwargs) -> dict | None:
    """Train the method whose config `config` is in the run folder `out` (`train <method>` in
    Python); keywords as Method.train: resume, force, progress, device, compile, stage, log."""
    return registered_for(config).train(config, out, **kwargs)


__all__ = ["REGISTRY", "ColorizationConfig", "ColorizationMethod", "Registered", "by_preference", "by_rank",
           "register", "registered_for", "train"]
