"""Fake Anthropic Messages API upstream for tests, demos and benchmarks.

Written from the protocol notes (``shared/protocols/anthropic.md``), not from the gateway's
adapter, so a test of the adapter against it checks two independent readings of the protocol.
"""

from .knobs import Knobs
from .simulator import AnthropicSimulator

__all__ = ["AnthropicSimulator", "Knobs"]
