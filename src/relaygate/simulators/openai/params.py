"""Scalar parameter checks with the real API's 400 wording, for the non-chat endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import APIError
from .messages import invalid_type, invalid_value, missing


def require(body: dict[str, Any], name: str) -> Any:
    if body.get(name) is None:
        raise missing(name)
    return body[name]


def string(body: dict[str, Any], name: str, *, required: bool = False, max_len: int | None = None) -> str | None:
    value = require(body, name) if required else body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_type(name, "a string", value)
    if max_len is not None and len(value) > max_len:
        raise APIError(400, f"Invalid '{name}': string too long. Expected a string with maximum length "
                       f"{max_len}, but got a string with length {len(value)} instead.", param=name,
                       code="string_above_max_length")
    return value


def boolean(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise invalid_type(name, "a boolean", value)
    return value


def integer(body: dict[str, Any], name: str, low: int | None = None, high: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(name, "an integer", value)
    in_range(name, value, low, high, "integer")
    return value


def number(body: dict[str, Any], name: str, low: float | None = None, high: float | None = None) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(name, "a number", value)
    in_range(name, value, low, high, "decimal")
    return value


def in_range(name: str, value: float, low: float | None, high: float | None, kind: str) -> None:
    if low is not None and value < low:
        raise APIError(400, f"Invalid '{name}': {kind} below minimum value. Expected a value >= {low:g}, "
                       f"but got {value} instead.", param=name, code=f"{kind}_below_min_value")
    if high is not None and value > high:
        raise APIError(400, f"Invalid '{name}': {kind} above maximum value. Expected a value <= {high:g}, "
                       f"but got {value} instead.", param=name, code=f"{kind}_above_max_value")


def choice(body: dict[str, Any], name: str, allowed: Sequence[str], default: str | None = None) -> str | None:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise invalid_type(name, "a string", value)
    if value not in allowed:
        raise invalid_value(name, value, tuple(allowed))
    return value


def stop_sequences(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise invalid_type("stop", "one of a string or array of strings", stop)
    if len(stop) > 4:
        raise APIError(400, f"Invalid 'stop': array too long. Expected an array with maximum length 4, "
                       f"but got an array with length {len(stop)} instead.", param="stop",
                       code="array_above_max_length")
    return stop
