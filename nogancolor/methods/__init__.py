"""The methods: each module here trains one kind of model through the `Method` contract
(train/run.py) and, for those the study compares, enters itself into REGISTRY with `register`.
Every module of this folder is imported here, so adding a method is adding a file."""

import importlib
import pkgutil

from .base import REGISTRY, ColorizationConfig, ColorizationMethod, Registered, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def by_rank() -> list[Registered]:
    """The compared methods in the reports' order."""
    return sorted(REGISTRY.values(), key=lambda r: r.rank)


def by_preference() -> tuple[str, ...]:
    """The compared methods' names, the one predict and serve prefer first."""
    return tuple(r.name for r in sorted(REGISTRY.values(), key=lambda r: r.preference))


__all__ = ["REGISTRY", "ColorizationConfig", "ColorizationMethod", "Registered", "by_preference", "by_rank", "register"]
