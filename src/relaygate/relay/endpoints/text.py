"""``/v1/completions`` (legacy), ``/v1/embeddings`` and ``/v1/moderations``: token-priced JSON endpoints.

Bodies pass through untouched but for the model name. Reservations take the input's UTF-8 size as its
token count (a true upper bound, no tokenizer; token arrays count as their length); completions add
``max_tokens`` (default 16, as the API's) for every choice of every prompt, ``best_of`` included.
Settlement uses the upstream's ``usage``, or a local tokenizer count when it reports none. Moderations
report no usage: they are free when the operator set no price for the model, and otherwise billed on
the input counted locally.
"""

from __future__ import annotations

import base64
import struct
from typing import TYPE_CHECKING, Any

import orjson

from relaygate.api.errors import bad_request
from relaygate.api.http import Receive, Scope, Send
from relaygate.billing.pricing import worst_case_cost
from relaygate.billing.tokens import count_tokens
from relaygate.providers.base import ChatRequest, UpstreamError, Usage
from relaygate.providers.openai.stream import collect_delta
from relaygate.providers.openai.usage import usage_from_openai
from relaygate.providers.registry import adapter_for
from relaygate.relay import pipeline
from relaygate.relay.h1client import H1Response
from relaygate.relay.pipeline import Call, CallContext, Endpoint, Rid, json_answer
from relaygate.relay.streaming import relay_stream
from relaygate.relay.validate import check_int
from relaygate.state.snapshot import PriceInfo

if TYPE_CHECKING:
    import aiohttp

    from relaygate.relay.service import Relay

DEFAULT_MAX_TOKENS = 16  # the legacy completions API's own default
MAX_ITEMS = 2048


def _texts(value: Any, param: str, allow_parts: bool = False) -> tuple[list[str], int]:
    """(texts, token count of token arrays) of a prompt/input; 400 for shapes the API does not take."""
    if isinstance(value, str):
        return [value], 0
    if not isinstance(value, list):
        raise bad_request(f"'{param}' must be a string, an array of strings or an array of tokens.", param)
    if len(value) > MAX_ITEMS:
        raise bad_request(f"'{param}' has more than {MAX_ITEMS} items.", param)
    texts: list[str] = []
    tokens = 0
    if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return [], len(value)
    for item in value:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in item):
            tokens += len(item)
        elif allow_parts and isinstance(item, dict) and isinstance(item.get("type"), str):
            if item["type"] == "text" and isinstance(item.get("text"), str):
                texts.append(item["text"])
        else:
            raise bad_request(f"'{param}' must be a string, an array of strings or an array of tokens.", param)
    return texts, tokens


def _upper_bound(texts: list[str], tokens: int) -> int:
    """At least as many tokens as any byte-level BPE upstream counts: one per UTF-8 byte."""
    return sum(len(t) if t.isascii() else len(t.encode()) for t in texts) + tokens


def _local_count(call: Call) -> int:
    """The tokenizer's count of the input, for billing when the upstream reports nothing."""
    texts, tokens = call.info["texts"]
    return sum(count_tokens(t, call.model) for t in texts) + tokens


def _prompts(value: Any) -> int:
    if isinstance(value, list) and value and all(isinstance(v, str | list) for v in value):
        return len(value)
    return 1


# --- completions -----------------------------------------------------------------------------


def read_completion(call: Call) -> None:
    body = call.body
    assert body is not None
    prompt = body.get("prompt", "<|endoftext|>")
    texts, tokens = _texts(prompt if prompt is not None else "", "prompt")
    if isinstance(body.get("suffix"), str):
        texts.append(body["suffix"])
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("'stream' must be a boolean.", "stream")
    call.stream = bool(stream)
    for name, high in (("n", 128), ("best_of", 128), ("max_tokens", 10_000_000), ("logprobs", 20)):
        check_int(body, name, 0 if name in ("max_tokens", "logprobs") else 1, high)
    options = body.get("stream_options")
    call.info["wants_usage"] = isinstance(options, dict) and options.get("include_usage") is True
    call.info["force_usage"] = True
    call.info["texts"] = (texts, tokens)
    call.info["prompt_bound"] = _upper_bound(texts, tokens)
    max_tokens = body.get("max_tokens")
    choices = max(body.get("n") or 1, body.get("best_of") or 1) * _prompts(prompt)
    call.units = (DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens) * choices


def reserve_completion(call: Call, price: PriceInfo | None) -> int:
    return worst_case_cost(price, call.info["prompt_bound"], call.units)


def answer_completion(call: Call, ctx: CallContext, raw: bytes, ctype: str) -> bytes:
    data = json_answer(raw, "completion")
    if not isinstance(data.get("choices"), list):
        raise pipeline.malformed("completion")
    ctx.usage = usage_from_openai(data.get("usage"))
    if ctx.usage is None:
        ctx.local_prompt = lambda: _local_count(call)
        parts: list[str] = []
        for choice in data["choices"]:
            if isinstance(choice, dict):
                collect_delta(choice, parts)
        ctx.completion_text = "".join(parts)
    return raw


async def stream_completion(relay: Relay, ctx: CallContext, call: Call, resp: H1Response | aiohttp.ClientResponse,
                            receive: Receive, send: Send, rid: Rid) -> UpstreamError | None:
    """The chat stream relay reads completion chunks as they are (usage, ``[DONE]``, errors)."""
    assert call.body is not None
    req = ChatRequest(body=call.body, model=call.model, stream=True, wants_usage=call.info["wants_usage"],
                      upstream_model=ctx.upstream_model)
    ctx.req = req
    ctx.local_prompt = lambda: _local_count(call)  # only if the upstream reports no usage
    return await relay_stream(relay, ctx, resp, adapter_for("openai"), req, receive, send, rid)


COMPLETIONS = Endpoint("completions", "/completions", read_completion, reserve_completion, answer_completion,
                       sse=stream_completion)


# --- embeddings ------------------------------------------------------------------------------


def read_embedding(call: Call) -> None:
    body = call.body
    assert body is not None
    if "input" not in body:
        raise bad_request("you must provide an input parameter", "input", "missing_required_parameter")
    texts, tokens = _texts(body["input"], "input")
    fmt = body.get("encoding_format")
    if fmt is not None and fmt not in ("float", "base64"):
        raise bad_request("'encoding_format' must be 'float' or 'base64'.", "encoding_format", "invalid_value")
    check_int(body, "dimensions", 1, 100_000)
    call.info["texts"] = (texts, tokens)
    call.units = _upper_bound(texts, tokens)


def reserve_tokens(call: Call, price: PriceInfo | None) -> int:
    return worst_case_cost(price, call.units, 0)


def answer_embedding(call: Call, ctx: CallContext, raw: bytes, ctype: str) -> bytes:
    data = json_answer(raw, "embedding list")
    items = data.get("data")
    if not isinstance(items, list):
        raise pipeline.malformed("embedding list")
    ctx.usage = usage_from_openai(data.get("usage"))
    if ctx.usage is None:
        ctx.usage, ctx.usage_source = Usage(prompt_tokens=_local_count(call)), "local"
    assert call.body is not None
    if call.body.get("encoding_format") == "base64" and any(isinstance(i.get("embedding"), list) for i in items):
        # an upstream that only speaks floats: pack them as the caller asked (little-endian float32)
        for item in items:
            vector = item.get("embedding")
            if isinstance(vector, list):
                item["embedding"] = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        return orjson.dumps(data)
    return raw


EMBEDDINGS = Endpoint("embeddings", "/embeddings", read_embedding, reserve_tokens, answer_embedding)


# --- moderations -----------------------------------------------------------------------------


def read_moderation(call: Call) -> None:
    body = call.body
    assert body is not None
    if "input" not in body:
        raise bad_request("you must provide an input parameter", "input", "missing_required_parameter")
    texts, tokens = _texts(body["input"], "input", allow_parts=True)
    call.info["texts"] = (texts, tokens)
    call.units = _upper_bound(texts, tokens)


def answer_moderation(call: Call, ctx: CallContext, raw: bytes, ctype: str) -> bytes:
    data = json_answer(raw, "moderation")
    if not isinstance(data.get("results"), list):
        raise pipeline.malformed("moderation")
    if ctx.price is not None:  # moderations report no usage; unpriced ones are free, no need to count
        ctx.usage, ctx.usage_source = Usage(prompt_tokens=_local_count(call)), "local"
    return raw


MODERATIONS = Endpoint("moderations", "/moderations", read_moderation, reserve_tokens, answer_moderation,
                       default_model="omni-moderation-latest", free_without_price=True)


async def handle_completions(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    await pipeline.run(relay, COMPLETIONS, scope, receive, send)


async def handle_embeddings(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    await pipeline.run(relay, EMBEDDINGS, scope, receive, send)


async def handle_moderations(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    await pipeline.run(relay, MODERATIONS, scope, receive, send)
