"""Shared mutable state of one simulator: configuration, knobs, request log, fault RNG.

Lives apart from the aiohttp app so tests (possibly on another thread) and the handlers see the
same objects; plain attribute reads/writes and ``list.append`` are atomic enough under the GIL.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from .knobs import Knobs


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the upstream saw it (``headers`` names lower-cased; ``json`` None if not JSON)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any | None

    @classmethod
    async def capture(cls, request: web.Request) -> RecordedRequest:
        body = await request.read()
        try:
            parsed = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        return cls(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            json=parsed,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form for ``GET /__sim/requests`` (body decoded as UTF-8 with replacement)."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body.decode("utf-8", errors="replace"),
            "json": self.json,
        }


@dataclass
class SimState:
    mode: str
    api_keys: frozenset[str] | None
    models: frozenset[str] | None
    deployments: dict[str, str]
    model_aliases: dict[str, str]
    api_versions: frozenset[str]
    knobs: Knobs = field(default_factory=Knobs)
    requests: list[RecordedRequest] = field(default_factory=list)
    stopping: asyncio.Event | None = None
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _rng_seed: int | None = field(default=None, repr=False)

    def take_fault(self) -> bool:
        """Consume one ``fail_next`` or roll ``error_rate``; True means this request must fail."""
        knobs = self.knobs
        if knobs.fail_next > 0:
            knobs.fail_next -= 1
            return True
        if knobs.error_rate <= 0:
            return False
        if self._rng_seed != knobs.seed:
            self._rng.seed(knobs.seed)
            self._rng_seed = knobs.seed
        return self._rng.random() < knobs.error_rate

    def reset(self) -> None:
        self.requests.clear()
        self.knobs.reset()
        self._rng_seed = None

    def accepts_key(self, key: str) -> bool:
        """``api_keys=None`` means any non-empty key is valid."""
        return bool(key) and (self.api_keys is None or key in self.api_keys)
