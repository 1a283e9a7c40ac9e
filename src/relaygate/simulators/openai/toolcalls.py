"""Deterministic tool-call decisions and arguments generated from JSON Schema.

Which tools are called (``tools`` present, ``tool_choice`` not ``"none"``, last message not a
``tool`` result; ``custom`` tools are never called):

* ``tool_choice: {"type": "function", "function": {"name": X}}`` -> exactly one call of ``X``.
* ``tool_choice: {"type": "allowed_tools", "allowed_tools": {"mode": M, "tools": [...]}}`` -> the
  rules below with ``M`` as the mode, restricted to the listed functions.
* ``"required"`` -> the tools whose names occur (case-insensitive substring) in the text of the
  last ``user`` message; if none occurs, the first tool.
* ``"auto"`` (the default) -> the tools whose names occur in that text; if none occurs, no call
  (plain text reply).
* Several matches and ``parallel_tool_calls`` not ``false`` -> one call per match (in ``tools``
  order); otherwise only the first match.

Legacy ``functions`` (only when no ``tools``): ``function_call: {"name": X}`` -> call ``X``;
``"auto"``/absent -> the first function whose name occurs in the last user text; ``"none"`` or no
match -> text. Last message ``role: "function"`` -> text.

Arguments: compact JSON built from the function's ``parameters`` by :func:`example_value` —
``const``; else first ``enum`` value; else by type: string ``"example <property>"`` (or a fixed
value for ``format`` date/date-time/time/email/uri/uuid), integer ``minimum`` or 1, number
``minimum`` or 1.5, boolean ``true``, null ``null``, array ``max(1, minItems)`` items, object every
property in ``properties`` order; ``anyOf``/``oneOf``/``allOf`` use the first non-null branch; local
``$ref`` (``#/...``) is resolved. Call ids are ``call_`` + 24 characters derived from the request
seed, choice index and call index, so they are stable across runs and across stream/non-stream.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

import orjson

from .replies import derived_rng, last_user_text

_ID_ALPHABET = string.ascii_letters + string.digits
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


@dataclass(frozen=True)
class PlannedCall:
    """One generated function call (``arguments`` is already a JSON string)."""

    id: str
    name: str
    arguments: str


def call_id(seed: bytes, choice: int, position: int) -> str:
    rng = derived_rng(seed, "call", choice, position)
    return "call_" + "".join(rng.choice(_ID_ALPHABET) for _ in range(24))


def _matches(functions: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    lowered = text.lower()
    return [f for f in functions if str(f.get("name", "")).lower() in lowered]


def select_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``function`` definitions to call, per the module rules; [] means answer in text."""
    functions = [
        t["function"] for t in body.get("tools") or [] if t.get("type") == "function" and "function" in t
    ]
    messages = body["messages"]
    if not functions or messages[-1].get("role") == "tool":
        return []
    choice = body.get("tool_choice") or "auto"
    mode = choice
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            wanted = (choice.get("function") or {}).get("name")
            return [f for f in functions if f.get("name") == wanted][:1]
        allowed = choice.get("allowed_tools") or {}
        names = {(t.get("function") or {}).get("name") for t in allowed.get("tools") or []}
        functions = [f for f in functions if f.get("name") in names]
        mode = allowed.get("mode", "auto")
    if mode == "none" or not functions:
        return []
    chosen = _matches(functions, last_user_text(messages))
    if not chosen:
        return functions[:1] if mode == "required" else []
    return chosen if body.get("parallel_tool_calls") is not False else chosen[:1]


def select_legacy_function(body: dict[str, Any]) -> dict[str, Any] | None:
    """The legacy ``functions`` entry to call, or None for a text reply."""
    functions = body.get("functions") or []
    messages = body["messages"]
    if not functions or body.get("tools") or messages[-1].get("role") == "function":
        return None
    choice = body.get("function_call") or "auto"
    if isinstance(choice, dict):
        return next((f for f in functions if f.get("name") == choice.get("name")), None)
    if choice == "none":
        return None
    found = _matches(functions, last_user_text(messages))
    return found[0] if found else None


def plan_calls(functions: list[dict[str, Any]], seed: bytes, choice: int) -> list[PlannedCall]:
    return [
        PlannedCall(call_id(seed, choice, i), str(f["name"]), arguments_json(f.get("parameters")))
        for i, f in enumerate(functions)
    ]


def arguments_json(schema: Any) -> str:
    """Compact JSON arguments for a ``parameters`` schema (``{}`` when there is none)."""
    if not isinstance(schema, dict) or not schema:
        return "{}"
    return orjson.dumps(example_value(schema, schema)).decode()


def _resolve(ref: str, root: dict[str, Any]) -> Any:
    node: Any = root
    for part in ref.lstrip("#/").split("/") if ref.startswith("#") else []:
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node


def example_value(schema: Any, root: dict[str, Any], key: str = "value", depth: int = 0) -> Any:
    """A deterministic instance of ``schema`` (see the module docstring for the rules)."""
    if not isinstance(schema, dict) or depth > 8:
        return {} if depth <= 8 else None
    if isinstance(schema.get("$ref"), str):
        return example_value(_resolve(schema["$ref"], root), root, key, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(combinator)
        if isinstance(branches, list) and branches:
            usable = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
            return example_value((usable or branches)[0], root, key, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: example_value(sub, root, name, depth + 1) for name, sub in props.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems") or 0))
        return [example_value(schema.get("items") or {}, root, key, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, kind)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = _FORMATS.get(str(schema.get("format")), f"example {key}")
    max_len = schema.get("maxLength")
    return text[:max_len] if isinstance(max_len, int) else text


def _number(schema: dict[str, Any], kind: str) -> int | float:
    value: int | float = 1 if kind == "integer" else 1.5
    if isinstance(schema.get("minimum"), int | float):
        value = schema["minimum"]
    elif isinstance(schema.get("exclusiveMinimum"), int | float):
        value = schema["exclusiveMinimum"] + 1
    if isinstance(schema.get("maximum"), int | float):
        value = min(value, schema["maximum"])
    return int(value) if kind == "integer" else value
