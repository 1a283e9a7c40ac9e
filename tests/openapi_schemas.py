"""Validate JSON documents against the component schemas of the official OpenAI OpenAPI spec.

    from tests.openapi_schemas import validate
    validate("CreateEmbeddingResponse", response_json)                  # raises jsonschema.ValidationError
    validate("ListFilesResponse", page, allow_null={"first_id", "last_id"})

The spec (``shared/spec/openai-openapi.yaml``, ~3 MB) is found beside the repository (CI clones
main with ``shared/`` next to it) or at ``$RELAYGATE_OPENAI_SPEC``; it is loaded once per process
(~2 s) and the test is skipped when it is absent. ``$ref``s resolve against the spec's
``components``. OpenAPI 3.1 schemas are JSON Schema 2020-12, but this spec still carries some 3.0
leftovers, normalised here: ``nullable: true`` adds ``null`` to the type / enum / alternatives, and
boolean ``exclusiveMinimum``/``exclusiveMaximum`` are turned into their numeric 2020-12 form
(left alone, ``exclusiveMinimum: true`` would mean "> 1"). ``x-*``, ``discriminator`` and
``format`` are annotations only.

``allow_null`` names properties whose value may be ``null`` even where the spec types them
strictly — real OpenAI responses do this in a few places (``first_id``/``last_id`` of an empty
files page, ``token_logprobs[0]`` with ``echo``); a listed property that is ``null`` is not checked
further, any other value still is.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jsonschema.validators import Draft202012Validator, extend

_REPO = Path(__file__).resolve().parents[1]
_CANDIDATES = (
    _REPO.parent / "shared" / "spec" / "openai-openapi.yaml",
    _REPO / "shared" / "spec" / "openai-openapi.yaml",
    Path("/work/shared/spec/openai-openapi.yaml"),
)


def spec_path() -> Path | None:
    env = os.environ.get("RELAYGATE_OPENAI_SPEC")
    for candidate in ([Path(env)] if env else []) + list(_CANDIDATES):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def _components() -> dict[str, Any]:
    path = spec_path()
    if path is None:
        pytest.skip("OpenAI OpenAPI spec not found (shared/spec/openai-openapi.yaml or $RELAYGATE_OPENAI_SPEC)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as handle:
        spec = yaml.load(handle, Loader=loader)
    return _normalise(spec["components"])


def _normalise(node: Any) -> Any:
    if isinstance(node, list):
        return [_normalise(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _normalise(value) for key, value in node.items()}
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), bool) and out.pop(bound) and limit in out:
            out[bound] = out.pop(limit)
    if "nullable" in out and not isinstance(out.get("nullable"), dict) and out.pop("nullable") is True:
        out = _add_null(out)
    return out


def _add_null(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list):
        if "null" not in kind:
            schema["type"] = [*kind, "null"]
    elif "anyOf" in schema or "oneOf" in schema:
        key = "anyOf" if "anyOf" in schema else "oneOf"
        schema[key] = [*schema[key], {"type": "null"}]
    else:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def schema_names() -> list[str]:
    return sorted(_components()["schemas"])


@functools.cache
def _validator_class(allow_null: frozenset[str]) -> type[Any]:
    if not allow_null:
        return Draft202012Validator
    base_properties = Draft202012Validator.VALIDATORS["properties"]

    def properties(validator: Any, props: dict[str, Any], instance: Any, schema: dict[str, Any]) -> Any:
        if isinstance(instance, dict):
            props = {k: v for k, v in props.items() if not (k in allow_null and instance.get(k, 0) is None)}
        yield from base_properties(validator, props, instance, schema)

    return extend(Draft202012Validator, {"properties": properties})


@functools.cache
def _validator(name: str, allow_null: frozenset[str]) -> Any:
    components = _components()
    if name not in components["schemas"]:
        raise KeyError(f"no schema named {name!r} in the spec's components")
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": f"#/components/schemas/{name}",
            "components": components}
    return _validator_class(allow_null)(root)


def errors(schema_name: str, instance: Any, *, allow_null: Iterable[str] = ()) -> list[str]:
    """Every violation as ``path: message`` (empty when the instance is valid)."""
    validator = _validator(schema_name, frozenset(allow_null))
    found = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found]


def validate(schema_name: str, instance: Any, *, allow_null: Iterable[str] = ()) -> None:
    """Raise ``jsonschema.ValidationError`` (best match, all violations listed) if ``instance`` is invalid."""
    validator = _validator(schema_name, frozenset(allow_null))
    found = list(validator.iter_errors(instance))
    if found:
        best = jsonschema.exceptions.best_match(found)
        listed = "\n".join(errors(schema_name, instance, allow_null=allow_null))
        raise jsonschema.ValidationError(f"{schema_name}: {best.message}\nall violations:\n{listed}")
