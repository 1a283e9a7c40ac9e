"""Hypothesis strategies that break a valid request: a value of the wrong type (or a hostile one of the
right type) at one place in the body, encoded as a client that does not care would send it (``NaN``,
``Infinity``, huge integers, lone surrogates, nesting deeper than any parser allows)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import strategies as st

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Raw:
    """A JSON fragment spliced into the body as is (too deep for ``json.dumps`` to build)."""

    text: str

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r}... {len(self.text)} chars)"


EDGE_NUMBERS = [0, -1, 1, 2**31, 2**53 + 1, 2**63, 2**64, 10**30, -(10**30), 1e308, -1e308, 5e-324, 0.5, 1.0,
                float("nan"), float("inf"), float("-inf")]
EDGE_STRINGS = ["", " ", "\u00b2", "\u0661\u0662", "\x00", "\ud800", "\u202e", "null", "true", "1", "-1", "1e400",
                "NaN", "<script>", "../../etc/passwd", "%s%n", "\u00ff" * 300]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(EDGE_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40), st.sampled_from(EDGE_STRINGS),
)
nested = st.integers(min_value=2, max_value=3000).flatmap(
    lambda depth: st.sampled_from([Raw("[" * depth + "]" * depth), Raw('{"a":' * depth + "1" + "}" * depth)]))
huge_strings = st.integers(min_value=1_000, max_value=50_000).map(lambda n: "\u00e9x" * (n // 2))
containers = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)

# Any value at all: the wrong type for every field sooner or later.
values = st.one_of(scalars, containers, nested, huge_strings)


def replace(body: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with ``value`` at ``path`` (a missing last key is added)."""
    out = copy.deepcopy(body)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return out


def remove(body: dict[str, Any], path: Path) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return out


def encode(body: Any) -> bytes:
    """JSON as a careless client writes it: NaN/Infinity literals, escapes for lone surrogates."""
    raws: list[str] = []

    def default(obj: Any) -> Any:
        if isinstance(obj, Raw):
            raws.append(obj.text)
            return f"\u0000raw{len(raws) - 1}\u0000"
        raise TypeError(type(obj))

    text = json.dumps(body, default=default, allow_nan=True)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\u0000raw{i}\u0000"), raw, 1)
    return text.encode("utf-8", "surrogatepass")


def is_int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def is_true_int(value: Any) -> bool:
    """What the gateway's JSON parser reads back as an integer (beyond 64 bits it becomes a float)."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**64


def at(body: Any, path: Path) -> Any:
    for step in path:
        body = body[step]
    return body


def as_parsed(body: Any) -> Any:
    """The body as the gateway reads it (big integers become floats), or None when it cannot read it:
    invalid JSON, or nested deeper than it accepts (a margin below orjson's 254 writable levels)."""
    try:
        parsed = orjson.loads(encode(body))
        orjson.dumps([[[[[[[[[[[[[[[[parsed]]]]]]]]]]]]]]]])
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None
    return parsed
