"""Fake Baidu Fanyi (百度翻译) upstream for tests, demos and benchmarks.

Written from the protocol notes (``shared/protocols/translation.md``), not from the gateway's adapter.
"""

from .knobs import Knobs
from .simulator import FanyiSimulator

__all__ = ["FanyiSimulator", "Knobs"]
