"""Fake OpenAI / Azure OpenAI upstream for tests, ``relaygate serve --demo`` and benchmarks.

Written from the protocol notes (``shared/protocols/openai.md``) and the OpenAPI spec, never from
gateway code, so it can catch the gateway's misreadings of the protocol.
"""

from .knobs import Knobs
from .simulator import OpenAISimulator
from .state import RecordedRequest

__all__ = ["Knobs", "OpenAISimulator", "RecordedRequest"]
