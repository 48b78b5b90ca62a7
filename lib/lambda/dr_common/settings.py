"""The function's settings from its environment: every missing variable named at once, so one
deploy fixes them all, and a wrong value named with the variable it came from."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigurationError(RuntimeError):
    """The function's environment is incomplete or wrong; nothing it would do can be trusted."""


def require(environ: Mapping[str, str], *names: str) -> None:
    """ConfigurationError naming every one of ``names`` that is unset or empty."""
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise ConfigurationError(f"Missing required environment variable(s): {', '.join(missing)}")


def converted(environ: Mapping[str, str], name: str, convert: Callable[[str], T], what: str) -> T:
    """``convert(environ[name])``; ConfigurationError saying ``name`` must be ``what`` if it fails."""
    require(environ, name)
    try:
        return convert(environ[name])
    except ValueError:
        raise ConfigurationError(f"{name} must be {what}, got {environ[name]!r}") from None


def integer(environ: Mapping[str, str], name: str) -> int:
    return converted(environ, name, int, "an integer")


def number(environ: Mapping[str, str], name: str) -> float:
    return converted(environ, name, float, "a number")


def json_value(environ: Mapping[str, str], name: str) -> Any:
    return converted(environ, name, json.loads, "JSON")
