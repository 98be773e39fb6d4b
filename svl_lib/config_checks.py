"""The config's field checks: a value against its type hint or its list of choices, each failing
with one ``ValueError`` that names the key and what it must be."""
from __future__ import annotations

import types
import typing
from typing import Any


def check_choice(name: str, value: str, options: tuple[str, ...]) -> None:
    """``value`` is one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")


def is_instance(value: Any, hint: Any) -> bool:
    """``value`` fits the type hint (unions, ``tuple[str, ...]``, None; a bool is no number)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(is_instance(value, h) for h in typing.get_args(hint))
    if origin is tuple:
        return isinstance(value, tuple) and all(isinstance(v, str) for v in value)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def check_type(name: str, value: Any, hint: Any) -> None:
    """``value`` of config key ``name`` fits its type hint."""
    if not is_instance(value, hint):
        said = " or ".join(getattr(h, "__name__", str(h)) for h in typing.get_args(hint)) \
            if typing.get_origin(hint) in (typing.Union, types.UnionType) else getattr(hint, "__name__", hint)
        raise ValueError(f"config key {name!r} must be {said}, got {value!r} ({type(value).__name__})")
