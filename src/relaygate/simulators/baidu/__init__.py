"""Fake Baidu Qianfan v1 (ERNIE) upstream for tests, demos and benchmarks.

Written from the protocol notes (``shared/protocols/baidu_ernie.md``), not from the gateway's adapter.
"""

from .knobs import Knobs
from .simulator import BaiduSimulator

__all__ = ["BaiduSimulator", "Knobs"]
