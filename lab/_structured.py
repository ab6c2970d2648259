"""Nested dicts <-> typed frozen dataclasses, and YAML files with `defaults:` layering and `key.path=value`
overrides: the generic half of `lab.config`, which holds the schema and its checks. Nothing here knows a key."""
from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from lab.errors import ConfigError

# ------------------------------------------------------------------------------------- dict <-> dataclass


def to_dict(obj: Any) -> Any:
    """Plain nested dict/list form (YAML- and checkpoint-safe)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [to_dict(v) for v in obj]
    return obj


def build(cls: type, data: Any, prefix: str = "") -> Any:
    """An instance of the dataclass `cls` from a nested dict: missing keys take their defaults, each value is
    checked against its field's type (nested dataclasses, Literal, Optional/Union, tuple, bool, int, float, str)
    and an unknown key or a wrong value is a ConfigError naming its dotted path."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected a section of keys, got {data!r}", prefix.rstrip(".") or "<root>",
                          "write the keys of this section under it")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(prefix + c for c in close)}?" if close else \
                f"valid keys here: {', '.join(prefix + n for n in names)}"
            raise ConfigError("unknown config key", path, hint)
        kwargs[key] = _coerce(hints[key], value, path)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path + ".")
    if origin is Literal:
        allowed = get_args(tp)
        # YAML 1.1 (PyYAML) reads an unquoted off/on (and no/yes) as a bool: give such a choice back its word
        if isinstance(value, bool) and ("on" if value else "off") in allowed:
            value = "on" if value else "off"
        if not any(value == a and type(value) is type(a) for a in allowed):
            raise ConfigError(f"{value!r} is not allowed", path, f"use one of {', '.join(map(str, allowed))}")
        return value
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(get_args(tp)):
            return None
        if len(args) == 1:
            return _coerce(args[0], value, path)
        for arg in args:  # the first alternative that takes the value
            try:
                return _coerce(arg, value, path)
            except ConfigError:
                pass
        names = " or ".join(repr(get_args(a)[0]) if get_origin(a) is Literal else a.__name__ for a in args)
        raise ConfigError(f"{value!r} is not allowed", path, f"give {names}")
    if origin is tuple:
        item_type = get_args(tp)[0]
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(_coerce(item_type, v, f"{path}[{i}]") for i, v in enumerate(items))
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if number is not None and not math.isfinite(number):
            raise ConfigError(f"{value!r} is not a finite number", path, "give a finite float")
        if number is not None:
            return number
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a field type this module does not know is a programming error
        raise TypeError(f"unsupported config field type {tp} at {path}")
    raise ConfigError(f"{value!r} is not of type {tp.__name__}", path, f"give a {tp.__name__}")


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: the `--set` key paths of a nested dict."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# ----------------------------------------------------------------------------------------- files and CLI


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged onto `base` section by section (neither is changed)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_yaml(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """One config file as a dict, with its `defaults:` files merged underneath it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file not found", path, "pass an existing YAML file")
    if path.resolve() in _seen:
        raise ConfigError("config file includes itself through 'defaults'", path, "remove the loop from its defaults")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file is not valid YAML, {str(exc).splitlines()[0]}", path,
                          "fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file holds a {type(data).__name__}, not a mapping of keys", path,
                          "write `section: {key: value}` entries")
    merged: dict[str, Any] = {}
    parents = data.pop("defaults", []) or []
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = merge(merged, read_yaml(path.parent / parent, _seen + (path.resolve(),)))
    return merge(merged, data)


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set one `key.path=value` (the value read as YAML) in the nested dict `data`."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError("an override must look like key.path=value", item, "e.g. --set training.batch_size=4")
    try:
        value = yaml.safe_load(raw) if raw.strip(" \t\r\n") else ""  # YAML's own whitespace only
    except yaml.YAMLError:
        value = raw
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"'{part}' is not a section", item,
                              "override keys below a section, e.g. training.batch_size=4")
    node[parts[-1]] = value
