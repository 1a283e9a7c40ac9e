"""Fault and behaviour knobs of the fake OpenAI upstream.

Tests flip these between requests (``sim.knobs.fail_next = 2``) or, out of process, through
``POST /__sim/knobs``. Every knob defaults to "behave like a healthy upstream", so a fresh or
reset simulator never injects faults by surprise.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Knobs:
    """Mutable knob set; read by the server on every request (no caching)."""

    latency_ms: int = 0
    """Delay before response headers are sent (all API routes, errors included)."""
    fail_next: int = 0
    """The next N chat requests (after auth) fail with ``fail_status``; decremented per failure."""
    fail_status: int = 500
    """HTTP status used by ``fail_next``, ``error_rate`` and the ``stream_error_after`` event."""
    fail_body: dict[str, Any] | None = None
    """Full JSON body for injected failures; None -> a realistic error object for ``fail_status``."""
    error_rate: float = 0.0
    """Probability (0..1) that a chat request fails with ``fail_status``; drawn from a ``seed``-ed RNG."""
    seed: int = 0
    """Seed of the RNG behind ``error_rate`` (changing it reseeds), so flaky runs are reproducible."""
    retry_after: int | None = None
    """Seconds for the ``Retry-After`` header on injected 429 responses."""
    hang: bool = False
    """Accept chat requests and never answer until the client disconnects or the simulator stops."""
    stream_cut_after: int | None = None
    """After N content chunks, abort the TCP connection (no terminating chunk, no ``[DONE]``)."""
    stream_error_after: int | None = None
    """After N content chunks, send ``data: {"error": {...}}`` and end the stream without ``[DONE]``."""
    trickle_ms: int = 0
    """Delay between stream chunks."""
    malformed_json: bool = False
    """Non-stream: 200 with a truncated JSON body. Stream: one extra ``data:`` event that is not JSON."""
    omit_usage: bool = False
    """Never report usage (no ``usage`` key, no usage chunk), even when the client asks for it."""
    reply_words: int = 20
    """Number of words of the default generated reply."""
    max_upload_bytes: int = 25 * 1024 * 1024
    """Cap on a multipart request body (audio, files, image edits): over it -> 413, as the real API's
    25 MB audio limit (the real file limit is 512 MB; raise this knob to test big uploads)."""
    ft_step_ms: int = 300
    """Fine-tuning jobs advance one state step per this many ms; 0 = one step per job retrieval."""
    ft_fail: bool = False
    """Fine-tuning jobs created while set fail when training starts (``error.code`` ``server_error``)."""
    _defaults: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._defaults = {f.name: getattr(self, f.name) for f in _public_fields()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready snapshot (served by ``GET /__sim/knobs``)."""
        return {f.name: getattr(self, f.name) for f in _public_fields()}

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update, checking names and types first so a bad update changes nothing."""
        known = {f.name: f for f in _public_fields()}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown knob {name!r}; known knobs: {', '.join(sorted(known))}")
            if not _type_ok(value, _HINTS[name]):
                raise ValueError(f"knob {name!r} does not accept {value!r}")
        for name, value in changes.items():
            setattr(self, name, float(value) if name == "error_rate" else value)

    def reset(self) -> None:
        """Restore the values this instance was created with (in place, so held references stay valid)."""
        for name, value in self._defaults.items():
            setattr(self, name, dict(value) if isinstance(value, dict) else value)


def _public_fields() -> list[dataclasses.Field[Any]]:
    return [f for f in fields(Knobs) if not f.name.startswith("_")]


_HINTS: dict[str, Any] = {
    name: hint for name, hint in typing.get_type_hints(Knobs).items() if not name.startswith("_")
}


def _type_ok(value: Any, hint: Any) -> bool:
    """Small runtime check for the few hint shapes used above (bool is not an int here)."""
    if isinstance(hint, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint) or hint
    if origin is bool:
        return isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, origin)
