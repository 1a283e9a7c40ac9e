"""Fake DeepL API v2 upstream for tests, demos and benchmarks.

Written from the protocol notes (``shared/protocols/translation.md``), not from the gateway's adapter.
"""

from .knobs import Knobs
from .simulator import DeepLSimulator

__all__ = ["DeepLSimulator", "Knobs"]
