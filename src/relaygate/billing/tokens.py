"""Offline token counting: OpenAI's own tokenizer (tiktoken) on tables read from disk.

tiktoken downloads its tables on first use, which fails offline; bpe-openai (a dependency of the
simulators) bundles the same tables as ``<name>.tiktoken.gz``. They are read from there and checked
against the SHA-256 that tiktoken's registry expects, so a count here is tiktoken's count.

Loaded lazily, on the first count: a gateway whose upstreams all report usage never needs them.
Memory per encoding is about 27 MiB (cl100k) and 47 MiB (o200k), a third of what bpe-openai's own
tokenizer maps (its extension alone is 70 MiB).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss")
_lock = threading.Lock()  # the registry's table loader is swapped while an encoding is built


class TablesMissing(RuntimeError):
    """The bundled tables are not installed (the ``bpe-openai`` package provides them)."""


def _tables_folder() -> Path:
    # find_spec, not import: importing bpe_openai would map its 70 MiB extension for nothing
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise TablesMissing("token tables not found: install bpe-openai (it bundles tiktoken's tables)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _read_ranks(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
    """Stands in for tiktoken's downloader: the same file, from disk, with the same integrity check."""
    path = _tables_folder() / (url.rsplit("/", 1)[-1] + ".gz")
    try:
        data = gzip.decompress(path.read_bytes())
    except OSError as exc:
        raise TablesMissing(f"token table {path} unreadable: {exc}") from None
    if expected_hash is not None and hashlib.sha256(data).hexdigest() != expected_hash:
        raise TablesMissing(f"token table {path} does not match the hash tiktoken expects")
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    import tiktoken
    import tiktoken_ext.openai_public as registry

    with _lock:
        download = registry.load_tiktoken_bpe
        registry.load_tiktoken_bpe = _read_ranks
        try:
            spec = registry.ENCODING_CONSTRUCTORS[name]()
        finally:
            registry.load_tiktoken_bpe = download
    enc = tiktoken.Encoding(spec["name"], pat_str=spec["pat_str"], mergeable_ranks=spec["mergeable_ranks"],
                            special_tokens=spec["special_tokens"])
    # The Rust core holds its own copy; the Python dict (about 40 MiB for o200k) serves only
    # single-token decoding, which counting never does.
    enc._mergeable_ranks = {}
    return enc


def encoding_for(model: str) -> Any:
    base = model.rsplit("/", 1)[-1].lower()
    return _encoding("o200k_base" if base.startswith(_O200K_PREFIXES) else "cl100k_base")


def count_tokens(text: str, model: str = "") -> int:
    if not text:
        return 0
    return len(encoding_for(model).encode_ordinary(text))
