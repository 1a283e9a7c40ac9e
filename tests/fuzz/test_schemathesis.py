"""Schema-driven fuzzing with schemathesis, against the gateway's own OpenAPI descriptions, fetched from
the running process: ``/v1/openapi.json`` (a user key; the models narrowed to the ones this deployment
serves, so that valid requests really relay to the simulator) and ``/api/openapi.json`` (the admin key).

Positive and negative cases (values the schema forbids: wrong types, out-of-range numbers, missing
fields). Every answer: no 5xx, no traceback, errors in the path's shape, a documented status and
content type, and a body that matches the documented schema. On ``/v1``, a request the description
says is invalid must be refused (4xx): the description claims no check the gateway does not make.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from relaygate.api.admin.app import build_admin_app
from relaygate.api.v1.openapi import openapi_v1
from tests.fuzz.conftest import MODELS, FuzzEnv
from tests.fuzz.harness import check_answer, fuzz_settings
from tests.gateway import ADMIN_KEY

# operationId -> the served model its valid requests use
MODEL_OF = {
    "createChatCompletion": MODELS["chat"], "createMessage": MODELS["chat"], "countMessageTokens": MODELS["chat"],
    "createCompletion": MODELS["completions"], "createEmbedding": MODELS["embeddings"],
    "createModeration": MODELS["moderations"], "createImage": MODELS["images"],
    "createImageEdit": MODELS["images"], "createImageVariation": MODELS["images"],
    "createSpeech": MODELS["speech"], "createTranscription": MODELS["transcriptions"],
    "createTranslation": MODELS["transcriptions"], "createFineTuningJob": MODELS["fine_tuning"],
    "uploadFile": MODELS["fine_tuning"],
}
# Fields narrowed to values the simulator accepts, so that positive cases relay and answer 2xx; negative
# cases outside them must still be refused (by the gateway, or by the upstream with a relayed 4xx).
NARROWER = {
    "createChatCompletion": {"messages": {"type": "array", "minItems": 1, "maxItems": 3, "items": {
        "type": "object", "required": ["role", "content"], "additionalProperties": False,
        "properties": {"role": {"enum": ["user"]}, "content": {"type": "string"}}}}},
    "createSpeech": {"voice": {"enum": ["alloy", "nova"]}},
    "uploadFile": {"purpose": {"enum": ["assistants", "batch"]}},
}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def narrowed(doc: dict[str, Any]) -> dict[str, Any]:
    """The served description with each operation's ``model`` limited to the model served for it."""
    doc = copy.deepcopy(doc)
    schemas = doc["components"]["schemas"]
    for item in doc["paths"].values():
        for operation in item.values():
            model = MODEL_OF.get(operation.get("operationId", "")) if isinstance(operation, dict) else None
            if model is None:
                continue
            for media in operation["requestBody"]["content"].values():
                ref = media["schema"]["$ref"].rsplit("/", 1)[-1]
                name = f"{ref}For{operation['operationId']}"
                schema = schemas[name] = copy.deepcopy(schemas[ref])
                defaulted = schema["properties"]["model"] == {"$ref": "#/components/schemas/DefaultedModel"}
                schema["properties"]["model"] = {"enum": [model, None] if defaulted else [model]}
                schema["properties"].update(NARROWER.get(operation["operationId"], {}))
                media["schema"] = {"$ref": f"#/components/schemas/{name}"}
    return doc


def _configure(schema: Any, base_url: str, token: str) -> Any:
    schema.config.update(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, request_timeout=60)
    return schema


HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# The descriptions as the package builds them, to parametrize at collection; the fixtures check that
# the running gateway serves exactly these.
V1_DOC: dict[str, Any] = orjson.loads(openapi_v1())
API_DOC: dict[str, Any] = build_admin_app(None).openapi()  # type: ignore[arg-type]


def operations(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, item in doc["paths"].items() for method in item
            if method in HTTP_METHODS]


@pytest.fixture(scope="session")
def v1_schema(fuzz: FuzzEnv) -> Any:
    resp = httpx.get(f"{fuzz.url}/v1/openapi.json")  # no key needed
    assert resp.status_code == 200 and resp.json() == V1_DOC
    return _configure(schemathesis.openapi.from_dict(narrowed(resp.json())), fuzz.url, fuzz.key)


@pytest.fixture(scope="session")
def api_schema(fuzz: FuzzEnv) -> Any:
    resp = fuzz.admin.get("/api/openapi.json")
    assert resp.status_code == 200 and resp.json() == API_DOC
    return _configure(schemathesis.openapi.from_dict(resp.json()), fuzz.url, ADMIN_KEY)


def cases(schema: Any, method: str, path: str) -> st.SearchStrategy[Any]:
    operation = schema[path][method.lower()]
    return st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))


def run(schema: Any, method: str, path: str, budget: int, family: str, checks: list[Any]) -> None:
    @fuzz_settings(budget)
    @given(case=cases(schema, method, path))
    def one(case: Any) -> None:
        resp = case.call()
        ctype = (resp.headers.get("content-type") or [""])[0]  # schemathesis keeps every value of a header
        check_answer(resp.status_code, resp.content, ctype, case.formatted_path, family)
        # A form carries text only: a "wrong type" there can reach the gateway as a valid form, so
        # schemathesis's negative form cases are not always invalid; refusal is checked for JSON and queries.
        # A 413 (the body is over the limit, refused before it is read) is a rejection too, though not
        # among the statuses schemathesis expects for invalid data.
        form = (case.media_type or "").startswith("multipart/")
        lenient = form or resp.status_code == 413
        case.validate_response(resp, checks=[c for c in checks if not (lenient and c is negative_data_rejection)])

    one()


@pytest.mark.parametrize(("method", "path"), operations(V1_DOC))
def test_v1(v1_schema: Any, method: str, path: str) -> None:
    run(v1_schema, method, path, 12, f"schemathesis {method} {path}", [*CHECKS, negative_data_rejection])


@pytest.mark.parametrize(("method", "path"), operations(API_DOC))
def test_api(api_schema: Any, method: str, path: str) -> None:
    run(api_schema, method, path, 10, "schemathesis /api", CHECKS)
