"""Fake Google Gemini (Generative Language API) upstream for tests, demos and benchmarks.

Written from the protocol notes (``shared/protocols/gemini.md``), not from the gateway's adapter.
"""

from .knobs import Knobs
from .simulator import GeminiSimulator

__all__ = ["GeminiSimulator", "Knobs"]
