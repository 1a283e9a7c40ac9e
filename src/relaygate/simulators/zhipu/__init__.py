"""Fake Zhipu GLM (智谱) v4 upstream for tests, demos and benchmarks.

Written from the protocol notes (``shared/protocols/zhipu.md``), not from the gateway's adapter.
"""

from .knobs import Knobs
from .simulator import ZhipuSimulator

__all__ = ["Knobs", "ZhipuSimulator"]
