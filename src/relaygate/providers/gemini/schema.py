"""JSON Schema (what OpenAI callers send) -> Gemini's OpenAPI-subset ``Schema``.

Gemini rejects keywords it does not know (``additionalProperties``, ``$schema``, ``const``...)
instead of ignoring them, and wants upper-case type names; so the schema is rebuilt from a
whitelist: local ``$ref`` is inlined, ``["string", "null"]`` becomes ``nullable``, ``const``
becomes a one-value ``enum``, ``oneOf`` becomes ``anyOf``, and string formats other than the
two Gemini supports are dropped rather than failing the call.
"""

from __future__ import annotations

from typing import Any

_TYPES = {"string": "STRING", "number": "NUMBER", "integer": "INTEGER", "boolean": "BOOLEAN", "array": "ARRAY",
          "object": "OBJECT", "null": "NULL"}
_KEEP = ("description", "title", "minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength", "pattern",
         "minProperties", "maxProperties", "example", "default", "propertyOrdering")
_STRING_FORMATS = frozenset({"enum", "date-time"})
_NUMBER_FORMATS = frozenset({"int32", "int64", "float", "double"})
MAX_DEPTH = 24


def to_gemini(schema: Any, root: Any = None, depth: int = 0) -> dict[str, Any]:
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return {}
    root = schema if root is None else root
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return to_gemini(_resolve(ref, root), root, depth + 1)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        return to_gemini({**{k: v for k, v in schema.items() if k != "allOf"}, **all_of[0]}, root, depth + 1)
    out: dict[str, Any] = {}
    kind = schema.get("type")
    if isinstance(kind, list):
        if "null" in kind:
            out["nullable"] = True
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in schema:
        kind = "object"
    if isinstance(kind, str) and kind in _TYPES:
        out["type"] = _TYPES[kind]
    if schema.get("nullable") is True:
        out["nullable"] = True
    for key in _KEEP:
        if key in schema:
            out[key] = schema[key]
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in (_STRING_FORMATS if kind == "string" else _NUMBER_FORMATS):
        out["format"] = fmt
    enum = [schema["const"]] if "const" in schema else schema.get("enum")
    if isinstance(enum, list) and enum:
        values = [v for v in enum if v is not None]
        out["enum"] = [v if isinstance(v, str) else str(v) for v in values]
        out.setdefault("type", "STRING")
        if out["type"] != "STRING":  # Gemini enums are strings only
            del out["enum"]
    variants = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(variants, list) and variants:
        real = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        if len(real) < len(variants):
            out["nullable"] = True
        converted = [to_gemini(v, root, depth + 1) for v in real]
        if len(converted) == 1:
            out.update({k: v for k, v in converted[0].items() if k not in out})
        elif converted:
            out["anyOf"] = converted
    props = schema.get("properties")
    if isinstance(props, dict):
        out["properties"] = {name: to_gemini(sub, root, depth + 1) for name, sub in props.items()}
        required = [r for r in schema.get("required") or () if r in props]
        if required:
            out["required"] = required
    if isinstance(schema.get("items"), dict):
        out["items"] = to_gemini(schema["items"], root, depth + 1)
    return out


def has_properties(schema: Any) -> bool:
    """Gemini refuses an OBJECT schema with no properties, so such parameters are left out."""
    return isinstance(schema, dict) and bool(schema.get("properties"))


def _resolve(ref: str, root: Any) -> Any:
    if not ref.startswith("#/"):
        return {}
    node = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node
