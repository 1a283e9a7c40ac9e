"""Deterministic Gemini replies, planned once and rendered whole or as stream chunks.

Rules (seeded by ``contents``, so streamed and whole answers agree):

* Last user turn holds ``functionResponse`` parts -> text quoting them:
  ``According to the tool results: <name> returned <compact JSON response>; ...``.
* Function declarations and mode not ``NONE``: ``ANY`` calls the allowed (or named-in-text, or
  first) functions, ``AUTO`` the ones named in the last user text. Calls are ``functionCall``
  parts with arguments generated from the schema; ``finishReason`` stays ``STOP``.
* ``responseMimeType: application/json``: a JSON document from ``responseSchema``, else
  ``{"reply": <text>}``. Otherwise ``reply_words`` words (candidate index varies the text).
* Thoughts (``includeThoughts`` with a non-zero budget, or the knob) -> a ``thought: true`` part.
* ``stopSequences`` cut the text (``STOP``); ``maxOutputTokens`` truncates (``MAX_TOKENS``).
* Usage: ``promptTokenCount`` = o200k tokens of all texts, calls, responses and tools + 258
  per inline/file part; ``cachedContentTokenCount`` from the knob (included in the prompt).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from relaygate.simulators.openai import replies, tokens

from .knobs import Knobs

MEDIA_TOKENS = 258


@dataclass
class CandidatePlan:
    index: int
    thought: str = ""
    text: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    finish: str = "STOP"

    def parts(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.thought:
            out.append({"text": self.thought, "thought": True})
        if self.text:
            out.append({"text": self.text})
        out.extend({"functionCall": c} for c in self.calls)
        return out

    def output_tokens(self) -> int:
        return tokens.count(self.text) + sum(tokens.count(c["name"]) + tokens.count(orjson.dumps(c["args"]).decode())
                                             for c in self.calls)


@dataclass
class Plan:
    model: str
    response_id: str
    candidates: list[CandidatePlan]
    prompt_tokens: int
    cached_tokens: int
    blocked: str | None = None

    def usage(self, upto: float = 1.0) -> dict[str, Any]:
        output = sum(c.output_tokens() for c in self.candidates)
        thoughts = sum(tokens.count(c.thought) for c in self.candidates)
        out: dict[str, Any] = {"promptTokenCount": self.prompt_tokens, "candidatesTokenCount": int(output * upto),
                               "totalTokenCount": self.prompt_tokens + int(output * upto) + thoughts,
                               "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt_tokens}]}
        if thoughts:
            out["thoughtsTokenCount"] = thoughts
        if self.cached_tokens:
            out["cachedContentTokenCount"] = self.cached_tokens
        return out

    def render(self) -> dict[str, Any]:
        if self.blocked:
            return {"promptFeedback": {"blockReason": self.blocked, "safetyRatings": _ratings(True)},
                    "usageMetadata": self.usage(), "modelVersion": self.model, "responseId": self.response_id}
        cands = []
        for c in self.candidates:
            cand: dict[str, Any] = {"content": {"parts": c.parts(), "role": "model"}, "finishReason": c.finish,
                                    "index": c.index}
            if c.finish == "SAFETY":
                cand["safetyRatings"] = _ratings(True)
            cands.append(cand)
        return {"candidates": cands, "usageMetadata": self.usage(), "modelVersion": self.model,
                "responseId": self.response_id}


def _ratings(blocked: bool) -> list[dict[str, Any]]:
    return [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH" if blocked else "NEGLIGIBLE",
             "blocked": blocked}]


def prompt_tokens(body: dict[str, Any]) -> int:
    texts: list[str] = []
    extra = 0
    contents = list(body.get("contents") or ())
    if body.get("systemInstruction"):
        contents.append(body["systemInstruction"])
    for content in contents:
        for part in content.get("parts") or ():
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif "inlineData" in part or "fileData" in part:
                extra += MEDIA_TOKENS
            for kind in ("functionCall", "functionResponse"):
                if kind in part:
                    texts.append(part[kind]["name"] + orjson.dumps(part[kind].get("args") or
                                                                   part[kind].get("response") or {}).decode())
    if body.get("tools"):
        texts.append(orjson.dumps(body["tools"]).decode())
    return extra + sum(tokens.count(t) for t in texts)


def example(schema: Any, key: str = "value", depth: int = 0) -> Any:
    """A deterministic instance of a Gemini (upper-case, OpenAPI-subset) schema."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("anyOf"):
        return example(schema["anyOf"][0], key, depth + 1)
    kind = schema.get("type") or ("OBJECT" if "properties" in schema else "STRING")
    if kind == "OBJECT":
        return {name: example(sub, name, depth + 1) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "ARRAY":
        return [example(schema.get("items") or {}, key, depth + 1) for _ in range(max(1, schema.get("minItems") or 1))]
    if kind == "INTEGER":
        return int(schema.get("minimum", 1))
    if kind == "NUMBER":
        return schema.get("minimum", 1.5)
    if kind == "BOOLEAN":
        return True
    if kind == "NULL":
        return None
    return f"example {key}"


def plan(body: dict[str, Any], model: str, knobs: Knobs) -> Plan:
    contents = body["contents"]
    seed = replies.request_seed(contents)
    config = body.get("generationConfig") or {}
    count = config.get("candidateCount") or 1
    total = prompt_tokens(body)
    result = Plan(model, uuid.uuid4().hex[:22], [], total, min(knobs.cached_tokens, total), knobs.block_prompt)
    if knobs.block_prompt:
        return result
    thinking = config.get("thinkingConfig") or {}
    wants_thought = knobs.thoughts or (thinking.get("includeThoughts") is True and thinking.get("thinkingBudget") != 0)
    for index in range(count):
        cand = CandidatePlan(index)
        if wants_thought:
            cand.thought = "Thinking it over: " + replies.reply_text(seed, 100 + index, 10)
        quoted = _quote_results(contents)
        cand.calls = [] if quoted is not None else _calls(body, seed)
        if not cand.calls:
            cand.text = quoted if quoted is not None else _text(config, seed, index, knobs.reply_words)
            cand.text, cand.finish = _limits(cand.text, config)
        if knobs.finish_reason:
            cand.finish = knobs.finish_reason
            if knobs.finish_reason in ("SAFETY", "RECITATION", "PROHIBITED_CONTENT"):
                cand.text = ""
        result.candidates.append(cand)
    return result


def _text(config: dict[str, Any], seed: bytes, index: int, words: int) -> str:
    text = replies.reply_text(seed, index, words)
    if config.get("responseMimeType") == "application/json":
        value = example(config["responseSchema"]) if config.get("responseSchema") else {"reply": text}
        return orjson.dumps(value).decode()
    return text


def _limits(text: str, config: dict[str, Any]) -> tuple[str, str]:
    for seq in config.get("stopSequences") or ():
        if seq and seq in text:
            text = text[: text.find(seq)]
    limit = config.get("maxOutputTokens")
    if isinstance(limit, int) and tokens.count(text) > limit:
        return tokens.truncate(text, limit)[0], "MAX_TOKENS"
    return text, "STOP"


def _last_user_text(contents: list[dict[str, Any]]) -> str:
    for content in reversed(contents):
        if content.get("role") == "user":
            return "\n".join(p["text"] for p in content["parts"] if isinstance(p.get("text"), str))
    return ""


def _calls(body: dict[str, Any], seed: bytes) -> list[dict[str, Any]]:
    decls = [d for tool in body.get("tools") or () for d in tool.get("functionDeclarations") or ()]
    fcc = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = fcc.get("mode", "AUTO")
    if not decls or mode == "NONE":
        return []
    allowed = fcc.get("allowedFunctionNames")
    if mode in ("ANY", "VALIDATED") and allowed:
        chosen = [d for d in decls if d["name"] in allowed]
    else:
        text = _last_user_text(body["contents"]).lower()
        chosen = [d for d in decls if d["name"].lower() in text]
        if not chosen and mode in ("ANY", "VALIDATED"):
            chosen = decls[:1]
    return [{"name": d["name"], "args": example(d.get("parameters") or {"type": "OBJECT", "properties": {}}) or {}}
            for d in chosen]


def _quote_results(contents: list[dict[str, Any]]) -> str | None:
    last = contents[-1]
    results = [p["functionResponse"] for p in last["parts"] if "functionResponse" in p] if last["role"] == "user" \
        else []
    if not results:
        return None
    quoted = [f"{r['name']} returned {orjson.dumps(r.get('response') or {}).decode()}" for r in results]
    return "According to the tool results: " + "; ".join(quoted) + "."
