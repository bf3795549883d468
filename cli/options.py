"""Command-line options made from a config's fields, so that each default and its help text are
declared once, in the config (`nogancolor.config.setting`).

    @train_app.command("unet")
    @config_options(UNetConfig)
    def train_unet(config: UNetConfig, out: ..., resume: ...): ...

gives `train unet` one option per field of UNetConfig (`--epochs`, `--lr`, ...) and calls the
command with the config they make. A nested config (NoGAN's stages) gives its fields as options
too, named by the parent field's `cli` map ({"epochs": "gen_epochs"}, the rest unprefixed).
"""

import dataclasses
import functools
import inspect
import types
from enum import Enum
from typing import Annotated, Optional, Union, get_args, get_origin

import typer


def _choices(name: str, values: tuple, renamed: dict) -> type[Enum]:
    """The choices and, accepted but not shown, their old names (`renamed`)."""
    return Enum(name.title().replace("_", ""), {str(v): str(v) for v in (*values, *renamed)}, type=str)


def _base_type(kind):
    """int | None -> (int, True); int -> (int, False)."""
    if get_origin(kind) in (Union, types.UnionType):
        inner = [a for a in get_args(kind) if a is not type(None)]
        return inner[0], True
    return kind, False


def config_fields(cls, names: dict | None = None, path: tuple = ()):
    """-> [(option name, field path, field)] for every leaf field of `cls`, nested ones included."""
    rows = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.type):
            rows += config_fields(f.type, f.metadata.get("cli", {}), path + (f.name,))
        else:
            rows.append(((names or {}).get(f.name, f.metadata.get("cli", f.name)), path + (f.name,), f))
    return rows


def bounds_text(f: dataclasses.Field) -> str:
    low, high = f.metadata.get("min"), f.metadata.get("max")
    if low is not None and high is not None:
        return f" [{low} to {high}]"
    return f" [at least {low}]" if low is not None else f" [at most {high}]" if high is not None else ""


def option_parameter(name: str, f: dataclasses.Field, default) -> inspect.Parameter:
    """The Typer option for one config field, with its default, help and choices. Bounds are
    shown in the help and checked by `build_config`, so a value out of range gets the same one
    `error:` line as any other bad value (Typer's own check prints a box and exits 2)."""
    kind, optional = _base_type(f.type)
    metavar = _metavar(kind)
    if "choices" in f.metadata:
        kind = _choices(name, f.metadata["choices"], f.metadata.get("renamed", {}))
        default = kind(default) if default is not None else None
        metavar = "[" + "|".join(map(str, f.metadata["choices"])) + "]"
    help_text = (f.metadata.get("help") or "") + bounds_text(f)
    annotation = Annotated[Optional[kind] if optional else kind, typer.Option(help=help_text, metavar=metavar)]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _metavar(kind) -> str | None:
    """What the help shows after an option that is not a choice: nothing for a flag, the kind of
    value otherwise (Typer's own says <bool>, <int range> ...)."""
    if kind is bool:
        return ""
    return {int: "INTEGER", float: "NUMBER", str: "TEXT"}.get(kind, "PATH")


def check_bounds(name: str, f: dataclasses.Field, value) -> None:
    low, high = f.metadata.get("min"), f.metadata.get("max")
    if value is None or isinstance(value, bool):
        return
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"--{name.replace('_', '-')} {value} is out of range:{bounds_text(f)}")


def build_config(cls, values: dict, path: tuple = (), names: dict | None = None):
    """The `cls` config from option values keyed by field path (`names`: field path -> option
    name, for the note an old name of a choice gets)."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.type):
            kwargs[f.name] = build_config(f.type, values, path + (f.name,), names)
        elif path + (f.name,) in values:
            value = values[path + (f.name,)]
            value = value.value if isinstance(value, Enum) else value
            renamed = f.metadata.get("renamed", {})
            if value in renamed:
                option = "--" + (names or {}).get(path + (f.name,), f.name).replace("_", "-")
                typer.echo(f"note: {option} {value} is now called {renamed[value]}", err=True)
                value = renamed[value]
            kwargs[f.name] = value
    return cls(**kwargs)


def config_options(cls, defaults: dict | None = None):
    """Decorator: the command's first parameter, `config`, becomes one option per field of `cls`
    (its other parameters stay as they are). `defaults`: option defaults that differ from the
    config's, by option name."""
    fields = config_fields(cls)
    template = cls()

    def default_of(path):
        value = template
        for part in path:
            value = getattr(value, part)
        return value

    def decorate(command):
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in list(inspect.signature(command).parameters.values())[1:]]
        options = [option_parameter(name, f, (defaults or {}).get(name, default_of(path))) for name, path, f in fields]

        @functools.wraps(command)
        def wrapper(**kwargs):
            values = {path: kwargs.pop(name) for name, path, _ in fields}
            for name, path, f in fields:
                check_bounds(name, f, values[path])
            return command(build_config(cls, values, names={path: name for name, path, _ in fields}), **kwargs)

        wrapper.__signature__ = inspect.Signature([*options, *own])
        wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}
        del wrapper.__wrapped__  # Typer must read the signature above, not the command's
        return wrapper

    return decorate
