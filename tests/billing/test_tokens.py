"""The gateway counts with tiktoken on tables read from disk; the simulators count with bpe-openai.
Two implementations of the same encodings must agree token for token, offline."""

from __future__ import annotations

import bpe_openai
import pytest

from relaygate.billing import tokens

TEXTS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog. " * 40,
    "文心一言和星火都是大模型。日本語のテキストも数えます。한국어도요.",
    "def f(x):\n    return {'a': [1, 2, 3]}  # comment\n\n\tTabs\r\nand CRLF",
    "emoji 🚀🔥👩‍👩‍👧 and accents: naïve café über",
    "   leading spaces and numbers 1234567890 3.14159 1e308",
]


@pytest.mark.parametrize(("model", "encoding"), [("gpt-4o-mini", "o200k_base"), ("gpt-3.5-turbo", "cl100k_base"),
                                                 ("openrouter/gpt-5", "o200k_base")])
def test_counts_match_an_independent_tokenizer(model: str, encoding: str) -> None:
    reference = bpe_openai.get_encoding(encoding)
    for text in TEXTS:
        assert tokens.count_tokens(text, model) == len(reference.encode_ordinary(text)), text


def test_empty_text_counts_nothing() -> None:
    assert tokens.count_tokens("", "gpt-4o") == 0


def test_a_table_that_does_not_match_the_registry_hash_is_refused(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import gzip

    (tmp_path / "cl100k_base.tiktoken.gz").write_bytes(gzip.compress(b"aGVsbG8= 0\n"))
    monkeypatch.setattr(tokens, "_tables_folder", lambda: tmp_path)
    with pytest.raises(tokens.TablesMissing, match="does not match"):
        tokens._read_ranks("https://example/cl100k_base.tiktoken", expected_hash="0" * 64)
    assert tokens._read_ranks("https://example/cl100k_base.tiktoken") == {b"hello": 0}
