"""``POST /v1/embeddings``.

Deterministic rules:

* Each input (string or token array) gets a vector derived from ``sha256(model | input)``: SHAKE-256
  bytes read as 16-bit values mapped to [-1, 1], L2-normalised, then rounded to float32 (so the
  ``float`` and ``base64`` encodings carry exactly the same numbers). Same model + input -> same vector.
* Native sizes: 3072 for ``text-embedding-3-large``, 1536 for everything else (3-small, ada-002,
  unknown names). ``dimensions`` (``text-embedding-3-*`` only; others get the real 400) keeps the
  first ``dimensions`` components and renormalises, as the real Matryoshka embeddings behave.
* ``encoding_format: "base64"`` -> base64 of the little-endian float32 array.
* Usage: ``prompt_tokens`` = ``total_tokens`` = o200k tokens of all inputs (token arrays: their
  length). Inputs over 8192 tokens get the real context-length 400.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import math
import struct
from typing import Any

import orjson
from aiohttp import web

from . import params, tokens
from .errors import APIError
from .plumbing import api, check_model, headers, read_json_object
from .state import SimState

MAX_INPUTS = 2048
MAX_TOKENS = 8192
_INVALID_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."


def native_dimensions(model: str) -> int:
    return 3072 if model.startswith("text-embedding-3-large") else 1536


def supports_dimensions(model: str) -> bool:
    return model.startswith("text-embedding-3")


@api(faults=True)
async def create(request: web.Request, state: SimState) -> web.StreamResponse:
    knobs = copy.copy(state.knobs)
    body = await read_json_object(request)
    model = params.string(body, "model", required=True) or ""
    inputs = parse_inputs(params.require(body, "input"))
    encoding = params.choice(body, "encoding_format", ("float", "base64"), "float")
    dims = params.integer(body, "dimensions", 1)
    reported = check_model(state, model)
    native = native_dimensions(model)
    if dims is not None:
        if not supports_dimensions(model):
            raise APIError(400, "This model does not support specifying dimensions.", param="dimensions")
        if dims > native:
            raise APIError(400, f"Invalid value for 'dimensions' = {dims}. Must be less than or equal to "
                           f"{native}.", param="dimensions", code="invalid_value")
    counts = [len(ids) for ids in inputs]
    for count in counts:
        if count > MAX_TOKENS:
            raise APIError(400, f"This model's maximum context length is {MAX_TOKENS} tokens, however you "
                           f"requested {count} tokens ({count} in your prompt; 0 for the completion). Please "
                           "reduce your prompt; or completion length.", param="input",
                           code="context_length_exceeded")
    data = []
    for index, ids in enumerate(inputs):
        vector = embed(model, ids, dims or native)
        value: Any = encode_base64(vector) if encoding == "base64" else vector
        data.append({"object": "embedding", "index": index, "embedding": value})
    payload: dict[str, Any] = {"object": "list", "data": data, "model": reported}
    if not knobs.omit_usage:
        payload["usage"] = {"prompt_tokens": sum(counts), "total_tokens": sum(counts)}
    raw = orjson.dumps(payload)
    if knobs.malformed_json:
        raw = raw[: len(raw) // 2]
    return web.Response(status=200, body=raw, content_type="application/json", headers=headers(state))


def parse_inputs(value: Any) -> list[list[int]]:
    """Every input as o200k token ids (strings are encoded)."""
    if isinstance(value, str):
        if not value:
            raise APIError(400, _INVALID_INPUT)
        return [tokens.encode(value)]
    if not isinstance(value, list) or not value or len(value) > MAX_INPUTS:
        raise APIError(400, _INVALID_INPUT)
    if all(isinstance(v, str) and v for v in value):
        return [tokens.encode(v) for v in value]
    if all(_is_token(v) for v in value):
        return [list(value)]
    if all(isinstance(v, list) and v and all(_is_token(t) for t in v) for v in value):
        return [list(v) for v in value]
    raise APIError(400, _INVALID_INPUT)


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def embed(model: str, token_ids: list[int], dims: int) -> list[float]:
    """Unit-norm float32-exact vector; a prefix of the native vector, renormalised."""
    seed = hashlib.sha256(model.encode() + b"|" + orjson.dumps(token_ids)).digest()
    raw = hashlib.shake_256(seed).digest(native_dimensions(model) * 2)
    values = [v / 32767.5 - 1.0 for v in struct.unpack(f"<{len(raw) // 2}H", raw)][:dims]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    packed = struct.pack(f"<{dims}f", *(v / norm for v in values))
    return list(struct.unpack(f"<{dims}f", packed))


def encode_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
