"""Plan a chat completion once, then render it as a JSON response or as stream chunks.

Planning is shared by both paths so the streamed deltas and the non-stream body cannot drift
apart (stream parity is a property of the plan, not of two code paths that happen to agree).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import replies, tokens, toolcalls
from .toolcalls import PlannedCall

_SERVICE_TIERS = ("default", "flex", "scale", "priority")


@dataclass
class ChoicePlan:
    """What one choice says: text, tool calls or a legacy function call."""

    index: int
    content: str | None
    tool_calls: list[PlannedCall] = field(default_factory=list)
    function_call: PlannedCall | None = None
    finish_reason: str = "stop"
    completion_tokens: int = 0


@dataclass
class CompletionPlan:
    """Everything needed to render the response; ids/timestamps are fixed here for all chunks."""

    id: str
    created: int
    model: str
    system_fingerprint: str
    service_tier: str
    choices: list[ChoicePlan]
    prompt_tokens: int
    audio_tokens: int
    logprobs: bool
    top_logprobs: int

    def usage(self) -> dict[str, Any]:
        completion = sum(c.completion_tokens for c in self.choices)
        return tokens.usage_object(self.prompt_tokens, completion, self.audio_tokens)


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:29]


def fingerprint(model: str) -> str:
    return "fp_" + hashlib.sha256(model.encode()).hexdigest()[:10]


def plan_completion(body: dict[str, Any], model: str, reply_words: int) -> CompletionPlan:
    """Deterministic plan for a validated body; ``model`` is the name reported back."""
    messages = body["messages"]
    seed = replies.request_seed(messages)
    prompt, audio = tokens.prompt_usage(body)
    tier = body.get("service_tier")
    return CompletionPlan(
        id=completion_id(),
        created=int(time.time()),
        model=model,
        system_fingerprint=fingerprint(model),
        service_tier=tier if tier in _SERVICE_TIERS else "default",
        choices=[_plan_choice(body, seed, i, reply_words) for i in range(body.get("n") or 1)],
        prompt_tokens=prompt,
        audio_tokens=audio,
        logprobs=body.get("logprobs") is True,
        top_logprobs=body.get("top_logprobs") or 0,
    )


def _plan_choice(body: dict[str, Any], seed: bytes, index: int, reply_words: int) -> ChoicePlan:
    functions = toolcalls.select_tools(body)
    if functions:
        calls = toolcalls.plan_calls(functions, seed, index)
        return ChoicePlan(index, None, tool_calls=calls, finish_reason="tool_calls",
                          completion_tokens=sum(_call_tokens(c) for c in calls))
    legacy = toolcalls.select_legacy_function(body)
    if legacy is not None:
        call = toolcalls.plan_calls([legacy], seed, index)[0]
        return ChoicePlan(index, None, function_call=call, finish_reason="function_call",
                          completion_tokens=_call_tokens(call))
    text = replies.apply_stop(_text_for(body, seed, index, reply_words), body.get("stop"))
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None and tokens.count(text) > limit:
        cut, used = tokens.truncate(text, limit)
        return ChoicePlan(index, cut, finish_reason="length", completion_tokens=used)
    return ChoicePlan(index, text, completion_tokens=tokens.count(text))


def _text_for(body: dict[str, Any], seed: bytes, index: int, reply_words: int) -> str:
    quoted = replies.tool_results_text(body["messages"])
    if quoted is not None:
        return quoted
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        return orjson.dumps(toolcalls.example_value(schema, schema)).decode()
    text = replies.reply_text(seed, index, reply_words)
    if fmt.get("type") == "json_object":
        return orjson.dumps({"reply": text}).decode()
    return text


def _call_tokens(call: PlannedCall) -> int:
    return tokens.count(call.name) + tokens.count(call.arguments)


# --- rendering -------------------------------------------------------------------------------


def call_object(call: PlannedCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def logprobs_object(text: str | None, top: int) -> dict[str, Any]:
    """Fake but well-formed logprobs: one entry per o200k token, ``top`` alternatives each."""
    return {"content": token_logprobs(text or "", top) if text is not None else None, "refusal": None}


def token_logprobs(text: str, top: int) -> list[dict[str, Any]]:
    entries = []
    for pos, (tid, raw) in enumerate(tokens.token_pieces(text)):
        logprob = -round(((tid * 7919 + pos * 104729) % 10000) / 10000 * 0.9, 6)
        token = raw.decode("utf-8", errors="replace")
        alternatives = [{"token": token, "logprob": logprob, "bytes": list(raw)}]
        candidates = (" " + w for w in replies.VOCABULARY if " " + w != token)
        for rank, alt in zip(range(1, top), candidates, strict=False):
            alternatives.append(
                {"token": alt, "logprob": round(logprob - 1.5 * rank, 6), "bytes": list(alt.encode())}
            )
        entries.append({"token": token, "logprob": logprob, "bytes": list(raw),
                        "top_logprobs": alternatives[:top]})
    return entries


def render_response(plan: CompletionPlan, include_usage: bool) -> dict[str, Any]:
    """The non-stream ``chat.completion`` object."""
    choices = []
    for choice in plan.choices:
        message: dict[str, Any] = {"role": "assistant", "content": choice.content, "refusal": None,
                                   "annotations": []}
        if choice.tool_calls:
            message["tool_calls"] = [call_object(c) for c in choice.tool_calls]
        if choice.function_call is not None:
            message["function_call"] = {"name": choice.function_call.name,
                                        "arguments": choice.function_call.arguments}
        choices.append({
            "index": choice.index,
            "message": message,
            "logprobs": logprobs_object(choice.content, plan.top_logprobs) if plan.logprobs else None,
            "finish_reason": choice.finish_reason,
        })
    body: dict[str, Any] = {
        "id": plan.id,
        "object": "chat.completion",
        "created": plan.created,
        "model": plan.model,
        "choices": choices,
    }
    if include_usage:
        body["usage"] = plan.usage()
    body["service_tier"] = plan.service_tier
    body["system_fingerprint"] = plan.system_fingerprint
    return body
