"""Offline token counting with the tables bundled in bpe-openai (no download at run time).

Imported lazily: the tables take about 70 MiB per encoding, and a gateway whose upstreams all
report usage never needs them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss")


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    import bpe_openai

    return bpe_openai.get_encoding(name)


def encoding_for(model: str) -> Any:
    base = model.rsplit("/", 1)[-1].lower()
    return _encoding("o200k_base" if base.startswith(_O200K_PREFIXES) else "cl100k_base")


def count_tokens(text: str, model: str = "") -> int:
    if not text:
        return 0
    return len(encoding_for(model).encode_ordinary(text))
