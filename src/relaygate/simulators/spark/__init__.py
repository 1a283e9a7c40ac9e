"""Fake iFlytek Spark (讯飞星火) WebSocket upstream for tests, demos and benchmarks.

Written from the protocol notes (``shared/protocols/xunfei_spark.md``), not from the gateway's adapter.
"""

from .knobs import Knobs
from .simulator import SparkSimulator

__all__ = ["Knobs", "SparkSimulator"]
