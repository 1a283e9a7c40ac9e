"""``POST /v1/completions`` — the legacy text completion endpoint.

Deterministic rules:

* ``prompt`` may be a string, an array of strings, a token array or an array of token arrays (o200k
  ids, decoded for ``echo``); missing/null means ``"<|endoftext|>"``. Each prompt yields ``n``
  choices, indexed ``prompt_index * n + i``.
* The generated text is ``"\\n\\n" + <reply_words-word reply>`` seeded by ``sha256(prompt)`` and the
  choice number, cut at the first ``stop`` sequence, then to ``max_tokens`` (default **16**, so the
  default 20-word reply ends with ``finish_reason: "length"``). ``echo`` prepends the prompt text.
* ``suffix`` is accepted and counted in ``prompt_tokens`` but not inserted into the text.
* ``logprobs: k`` returns the legacy object (``tokens``, ``token_logprobs``, ``top_logprobs`` with
  ``k`` entries, ``text_offset``); with ``echo`` the first prompt token has null logprobs, as the
  real API reports it.
* Chat-only model names (``gpt-4*``, ``gpt-3.5-turbo`` without ``-instruct``, ``o1``/``o3``/``o4``,
  ``gpt-5*``, ``chatgpt*``) get the real 404 "This is a chat model..." error.
* Usage: ``prompt_tokens`` = tokens of every prompt (+ suffix) once, ``completion_tokens`` = tokens
  generated over all choices (echoed prompt excluded). Stream and knobs behave as for chat.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import time
import uuid
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

import orjson
from aiohttp import web

from . import params, replies, tokens
from .errors import APIError
from .messages import empty_array, invalid_type
from .plumbing import api, check_model, headers, read_json_object, stream_error_body
from .state import SimState
from .streaming import Event, write_stream

DEFAULT_MAX_TOKENS = 16
_CHAT_PREFIXES = ("gpt-4", "gpt-5", "gpt-3.5-turbo", "o1", "o3", "o4", "chatgpt")
_CONTEXT = {"babbage-002": 16384, "davinci-002": 16384}
_DEFAULT_CONTEXT = 4097
_PROMPT_TYPES = "one of a string, array of strings, array of integers, or array of arrays of integers"


@dataclass
class Prompt:
    text: str
    token_ids: list[int]


@dataclass
class Choice:
    index: int
    prompt: Prompt
    generated: str
    finish_reason: str
    completion_tokens: int


def is_chat_model(model: str) -> bool:
    return "instruct" not in model and model.startswith(_CHAT_PREFIXES)


@api(faults=True)
async def create(request: web.Request, state: SimState) -> web.StreamResponse:
    knobs = copy.copy(state.knobs)
    body = await read_json_object(request)
    model = params.string(body, "model", required=True) or ""
    reported = check_model(state, model)
    if is_chat_model(model):
        raise APIError(404, "This is a chat model and not supported in the v1/completions endpoint. Did you "
                       "mean to use v1/chat/completions?", param="model")
    prompts = parse_prompts(body.get("prompt"))
    n = params.integer(body, "n", 1, 128) or 1
    best_of = params.integer(body, "best_of", 0, 20)
    if best_of is not None and best_of < n:
        raise APIError(400, "best_of must be greater than or equal to n", param="best_of")
    max_tokens = params.integer(body, "max_tokens", 0)
    max_tokens = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    logprobs = params.integer(body, "logprobs", 0, 5)
    echo = params.boolean(body, "echo") is True
    stream = params.boolean(body, "stream") is True
    suffix = params.string(body, "suffix") or ""
    for name, low, high in (("temperature", 0, 2), ("top_p", 0, 1), ("presence_penalty", -2, 2),
                            ("frequency_penalty", -2, 2)):
        params.number(body, name, low, high)
    stop = params.stop_sequences(body.get("stop"))
    options = body.get("stream_options")
    if options is not None and not stream:
        raise APIError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                       param="stream_options")
    prompt_tokens = sum(len(p.token_ids) + tokens.count(suffix) for p in prompts)
    context = _CONTEXT.get(model, _DEFAULT_CONTEXT)
    longest = max(len(p.token_ids) for p in prompts)
    if longest + max_tokens > context:
        raise APIError(400, f"This model's maximum context length is {context} tokens, however you requested "
                       f"{longest + max_tokens} tokens ({longest} in your prompt; {max_tokens} for the "
                       "completion). Please reduce your prompt; or completion length.",
                       code="context_length_exceeded")
    choices = [
        _choice(p_index * n + i, prompt, i, knobs.reply_words, stop, max_tokens)
        for p_index, prompt in enumerate(prompts) for i in range(n)
    ]
    completion = {"id": "cmpl-" + uuid.uuid4().hex[:29], "object": "text_completion",
                  "created": int(time.time()), "model": reported}
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": sum(c.completion_tokens for c in choices),
             "total_tokens": prompt_tokens + sum(c.completion_tokens for c in choices)}
    if stream:
        wants_usage = isinstance(options, dict) and options.get("include_usage") is True
        events = _events(completion, choices, echo, logprobs, usage if wants_usage and not knobs.omit_usage else None)
        response = web.StreamResponse(status=200, headers=headers(state))
        response.content_type = "text/event-stream"
        response.charset = "utf-8"
        response.headers["Cache-Control"] = "no-cache"
        stopping = state.stopping or asyncio.Event()
        return await write_stream(request, response, events, knobs, stream_error_body(knobs), stopping)
    payload: dict[str, Any] = {**completion, "choices": [
        {"text": (c.prompt.text if echo else "") + c.generated, "index": c.index,
         "logprobs": _logprobs(c, echo, logprobs) if logprobs is not None else None,
         "finish_reason": c.finish_reason}
        for c in choices
    ]}
    if not knobs.omit_usage:
        payload["usage"] = usage
    data = orjson.dumps(payload)
    if knobs.malformed_json:
        data = data[: len(data) // 2]
    return web.Response(status=200, body=data, content_type="application/json", headers=headers(state))


def parse_prompts(prompt: Any) -> list[Prompt]:
    if prompt is None:
        prompt = "<|endoftext|>"
    if isinstance(prompt, str):
        return [Prompt(prompt, tokens.encode(prompt))]
    if not isinstance(prompt, list):
        raise invalid_type("prompt", _PROMPT_TYPES, prompt)
    if not prompt:
        raise empty_array("prompt")
    if all(isinstance(p, str) for p in prompt):
        return [Prompt(p, tokens.encode(p)) for p in prompt]
    if all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        return [_token_prompt(prompt)]
    if all(isinstance(p, list) and p and all(isinstance(t, int) and not isinstance(t, bool) for t in p)
           for p in prompt):
        return [_token_prompt(p) for p in prompt]
    raise invalid_type("prompt", _PROMPT_TYPES, prompt)


def _token_prompt(ids: list[int]) -> Prompt:
    enc = tokens.encoding()
    for token in ids:
        if not 0 <= token < enc.n_vocab:
            raise APIError(400, f"Invalid token in prompt: {token}. Minimum value is 0, maximum value is "
                           f"{enc.n_vocab - 1} (inclusive).", param="prompt")
    return Prompt(enc.decode_bytes(ids).decode("utf-8", errors="replace"), list(ids))


def _choice(index: int, prompt: Prompt, i: int, words: int, stop: list[str], max_tokens: int) -> Choice:
    seed = hashlib.sha256(b"completion|" + orjson.dumps(prompt.token_ids)).digest()
    text = replies.apply_stop("\n\n" + replies.reply_text(seed, i, words), stop)
    if tokens.count(text) > max_tokens:
        cut, used = tokens.truncate(text, max_tokens) if max_tokens else ("", 0)
        return Choice(index, prompt, cut, "length", used)
    return Choice(index, prompt, text, "stop", tokens.count(text))


def _logprobs(choice: Choice, echo: bool, k: int, offset: int = 0, text: str | None = None) -> dict[str, Any]:
    """Legacy logprobs of ``text`` (default: the choice's generated text, after the echoed prompt)."""
    out: dict[str, Any] = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    pieces: list[tuple[int, bytes, bool]] = []
    if text is None:
        if echo:
            pieces += [(t, tokens.encoding().decode_single_token_bytes(t), True) for t in choice.prompt.token_ids]
        text = choice.generated
    pieces += [(tid, raw, False) for tid, raw in tokens.token_pieces(text)]
    position = offset
    for n, (tid, raw, from_prompt) in enumerate(pieces):
        token = raw.decode("utf-8", errors="replace")
        out["tokens"].append(token)
        out["text_offset"].append(position)
        position += len(token)
        if from_prompt and n == 0:
            out["token_logprobs"].append(None)
            out["top_logprobs"].append(None)
            continue
        logprob = -round(((tid * 7919 + n * 104729) % 10000) / 10000 * 0.9, 6)
        out["token_logprobs"].append(logprob)
        top = {token: logprob}
        for rank, word in enumerate((w for w in replies.VOCABULARY if " " + w != token), start=1):
            if len(top) >= k:
                break
            top[" " + word] = round(logprob - 1.5 * rank, 6)
        out["top_logprobs"].append(dict(list(top.items())[:k]))
    return out


def _events(completion: dict[str, Any], choices: list[Choice], echo: bool, logprobs: int | None,
            usage: dict[str, Any] | None) -> list[Event]:
    def chunk(choice: Choice, text: str, finish: str | None, lp: Any, kind: str) -> Event:
        payload = {**completion, "choices": [{"text": text, "index": choice.index, "logprobs": lp,
                                              "finish_reason": finish}]}
        if usage is not None:
            payload["usage"] = None
        return Event(payload, kind)

    per_choice = []
    for c in choices:
        events, offset = [], 0
        if echo:
            lp = _logprobs(Choice(c.index, c.prompt, "", "", 0), True, logprobs) if logprobs is not None else None
            events.append(chunk(c, c.prompt.text, None, lp, "content"))
            offset = len(c.prompt.text)
        for piece in replies.stream_pieces(c.generated):
            lp = _logprobs(c, False, logprobs, offset, piece) if logprobs is not None else None
            events.append(chunk(c, piece, None, lp, "content"))
            offset += len(piece)
        events.append(chunk(c, "", c.finish_reason, None, "finish"))
        per_choice.append(events)
    ordered = [e for row in zip_longest(*per_choice) for e in row if e is not None]
    if usage is not None:
        ordered.append(Event({**completion, "choices": [], "usage": usage}, "usage"))
    return ordered
