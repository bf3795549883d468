"""Configs: each method's settings as one frozen dataclass, every default declared once with the
sentence that explains it (as nanoGPT's GPTConfig), by `setting`. The command line makes its
options from these fields (cli/options.py), a run stores its config as run.json and its export as
the "config" entry of model.json, and `config_from_record` reads either back, nested configs included.
"""

import dataclasses
from typing import Any, TypeVar

C = TypeVar("C")

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PRECISION_HELP = ("auto = bf16 on GPUs that support it and on CPUs where bf16 is native and measured faster "
                  "(see docs/speed.md), fp32 elsewhere; bf16, fp32 and fp16 (CUDA only) can be forced.")


def setting(default: Any, help: str, **option) -> Any:
    """A config field: its default, what it does (the `--help` text), and for the command line
    `min`/`max`, `choices` (a tuple of allowed values) or `cli` (the option's name, when it is
    not the field's). Two keep the studies' run folders (`digest_record`) when settings change:
    `added=True` marks a setting added after studies ran, left out of the digest at its default,
    and `renamed` maps a choice's old names to its new ones: the digest hashes the old name and
    the command line still takes it, with a note. A dataclass default (a nested config) is made
    fresh for each config."""
    metadata = {"help": help, **option}
    if dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def check_temperature(temperature: float | None, option: str = "temperature") -> None:
    """A colour-classification model's annealed-mean temperature must be positive (None: its default)."""
    if temperature is not None and not temperature > 0:
        raise ValueError(f"{option} {temperature} is not positive; try 0.38 (vivid) to 1 (the colour distribution's "
                         "mean)")


class ConfigError(ValueError):
    """A stored config this version cannot read; the message says what to do."""


def config_record(config) -> dict:
    """The JSON-safe record of a config (nested configs as nested dicts)."""
    return dataclasses.asdict(config)


def digest_record(config) -> dict:
    """The record that names a run's folder: config_record without the `added` settings left at
    their defaults, renamed values by their old names."""
    record = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            record[f.name] = digest_record(value)
        elif not (f.metadata.get("added") and value == f.default):
            old_names = {new: old for old, new in f.metadata.get("renamed", {}).items()}
            record[f.name] = old_names.get(value, value)
    return record


def config_from_record(cls: type[C], record: dict, where: str = "the stored config") -> C:
    """Rebuild a `cls` config from its record; settings this version does not know are refused
    in one line (a run from another version is started over, never misread)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(record) - set(fields))
    if unknown:
        raise ConfigError(f"{where} was written by another version of nogancolor (unknown settings: "
                          f"{', '.join(unknown)}); start it over with --force")
    values = {}
    for name, value in record.items():
        kind = fields[name].type
        values[name] = config_from_record(kind, value, where) if dataclasses.is_dataclass(kind) else value
    return cls(**values)
