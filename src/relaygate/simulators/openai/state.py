"""Shared mutable state of one simulator: configuration, knobs, request log, fault RNG.

Lives apart from the aiohttp app so tests (possibly on another thread) and the handlers see the
same objects; plain attribute reads/writes and ``list.append`` are atomic enough under the GIL.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from relaygate.simulators.common.recording import RecordedRequest

from .knobs import Knobs

__all__ = ["RecordedRequest", "SimState"]


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
    files: dict[str, Any] = field(default_factory=dict)
    """Uploaded files by id (:class:`.files.StoredFile`), in upload order."""
    jobs: dict[str, Any] = field(default_factory=dict)
    """Fine-tuning jobs by id (:class:`.fine_tuning.Job`), in creation order."""
    fine_tuned_models: dict[str, int] = field(default_factory=dict)
    """``ft:`` model name -> creation time, filled when a fine-tuning job succeeds."""
    images: dict[str, bytes] = field(default_factory=dict)
    """PNGs served at ``/__sim/images/<id>.png`` for ``response_format=url`` (newest 256 kept)."""
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
        """Clear the request log, stored files, jobs, fine-tuned models and images; default knobs."""
        self.requests.clear()
        self.knobs.reset()
        self._rng_seed = None
        self.files.clear()
        self.jobs.clear()
        self.fine_tuned_models.clear()
        self.images.clear()

    def model_known(self, model: str) -> bool:
        """``models=None`` accepts any name, except ``ft:`` names this simulator did not train."""
        if model in self.fine_tuned_models:
            return True
        if self.models is not None:
            return model in self.models
        return not model.startswith("ft:")

    def accepts_key(self, key: str) -> bool:
        """``api_keys=None`` means any non-empty key is valid."""
        return bool(key) and (self.api_keys is None or key in self.api_keys)
