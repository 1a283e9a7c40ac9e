"""Fake OpenAI / Azure OpenAI upstream for tests, ``relaygate serve --demo`` and benchmarks.

Written from the protocol notes (``shared/protocols/openai.md``) and the OpenAPI spec, never from
gateway code, so it can catch the gateway's misreadings of the protocol. Endpoint families:
:mod:`.chat`, :mod:`.completions`, :mod:`.embeddings`, :mod:`.moderations`, :mod:`.images`,
:mod:`.audio` (speech), :mod:`.transcriptions`, :mod:`.files`, :mod:`.fine_tuning`, :mod:`.models`.
"""

from .knobs import Knobs
from .simulator import OpenAISimulator
from .state import RecordedRequest

__all__ = ["Knobs", "OpenAISimulator", "RecordedRequest"]
