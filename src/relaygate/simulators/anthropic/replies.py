"""Deterministic Anthropic replies: one plan, rendered as a whole message or as stream events.

Rules tests can rely on (seeded by the messages, so streamed and whole answers are identical):

* Last user turn holds ``tool_result`` blocks -> one text block quoting them:
  ``According to the tool results: <tool name> returned <content>; ...``.
* Tools offered and ``tool_choice`` not ``none`` -> ``tool`` calls the named tool; ``any`` calls
  the tools named in the last user text (or the first tool); ``auto`` calls the named ones (or
  none, answering in text). ``disable_parallel_tool_use`` keeps only the first. With ``auto`` a
  short text block comes first ("Let me use ..."), as Claude does; forced choices start with the
  tool_use block. Inputs are generated from ``input_schema`` (the OpenAI simulator's generator).
* Otherwise ``reply_words`` words of text. Thinking enabled (or the ``thinking`` knob) puts a
  thinking block with a signature first.
* ``stop_sequences``: the text is cut before the earliest one; ``stop_reason: stop_sequence``.
* ``max_tokens``: output beyond it is cut; ``stop_reason: max_tokens``.
* Usage: ``input_tokens`` counts every text the model sees (o200k), 400 per image, 1000 per
  document, 3 per message plus 4; the cache knobs move tokens into the cache fields.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from relaygate.simulators.openai import replies, tokens
from relaygate.simulators.openai.toolcalls import example_value

from .knobs import Knobs
from .validation import blocks_of

IMAGE_TOKENS = 400
DOCUMENT_TOKENS = 1000


@dataclass
class Block:
    type: str  # text | thinking | tool_use
    text: str = ""
    id: str = ""
    name: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    signature: str = ""

    def render(self) -> dict[str, Any]:
        if self.type == "text":
            return {"type": "text", "text": self.text}
        if self.type == "thinking":
            return {"type": "thinking", "thinking": self.text, "signature": self.signature}
        return {"type": "tool_use", "id": self.id, "name": self.name, "input": self.input}

    def tokens(self) -> int:
        if self.type == "tool_use":
            return tokens.count(self.name) + tokens.count(orjson.dumps(self.input).decode())
        return tokens.count(self.text)


@dataclass
class MessagePlan:
    id: str
    model: str
    blocks: list[Block]
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int
    cache_read: int
    cache_write: int

    @property
    def output_tokens(self) -> int:
        return sum(b.tokens() for b in self.blocks)

    def usage(self, output: int | None = None) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "cache_creation_input_tokens": self.cache_write,
                "cache_read_input_tokens": self.cache_read,
                "output_tokens": self.output_tokens if output is None else output, "service_tier": "standard"}

    def render(self) -> dict[str, Any]:
        return {"id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [b.render() for b in self.blocks], "stop_reason": self.stop_reason,
                "stop_sequence": self.stop_sequence, "usage": self.usage()}


def prompt_tokens(body: dict[str, Any]) -> int:
    texts: list[str] = []
    extra = 4
    system = body.get("system")
    for block in blocks_of(system) if system is not None else ():
        texts.append(block.get("text") or "")
    for msg in body["messages"]:
        extra += 3
        for block in blocks_of(msg["content"]):
            extra += _block_cost(block, texts)
    if body.get("tools"):
        texts.append(orjson.dumps(body["tools"]).decode())
    return extra + sum(tokens.count(t) for t in texts)


def _block_cost(block: dict[str, Any], texts: list[str]) -> int:
    kind = block.get("type")
    if kind == "text":
        texts.append(block.get("text") or "")
    elif kind == "thinking":
        texts.append(block.get("thinking") or "")
    elif kind == "image":
        return IMAGE_TOKENS
    elif kind == "document":
        return DOCUMENT_TOKENS
    elif kind == "tool_use":
        texts.append(str(block.get("name")) + orjson.dumps(block.get("input")).decode())
    elif kind == "tool_result":
        content = block.get("content")
        if isinstance(content, str):
            texts.append(content)
        else:
            return sum(_block_cost(b, texts) for b in content or () if isinstance(b, dict))
    return 0


def plan_message(body: dict[str, Any], knobs: Knobs) -> MessagePlan:
    messages = body["messages"]
    seed = replies.request_seed(messages)
    blocks: list[Block] = []
    thinking = body.get("thinking")
    if (isinstance(thinking, dict) and thinking.get("type") == "enabled") or knobs.thinking:
        blocks.append(Block("thinking", "Let me think about this. " + replies.reply_text(seed, 7, 12),
                            signature=base64.b64encode(hashlib.sha256(seed).digest()).decode()))
    stop_reason, stop_sequence = "end_turn", None
    quoted = _tool_results_text(messages)
    calls = [] if quoted is not None else _select_tools(body)
    if calls:
        if (body.get("tool_choice") or {}).get("type", "auto") == "auto":
            blocks.append(Block("text", "Let me use " + ", ".join(t["name"] for t in calls) + " for that."))
        for k, tool in enumerate(calls):
            rng = replies.derived_rng(seed, "toolu", k)
            call_id = "toolu_01" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789")
                                           for _ in range(22))
            schema = tool.get("input_schema") or {}
            value = example_value(schema, schema)
            blocks.append(Block("tool_use", id=call_id, name=tool["name"],
                                input=value if isinstance(value, dict) else {}))
        stop_reason = "tool_use"
    else:
        text = quoted if quoted is not None else replies.reply_text(seed, 0, knobs.reply_words)
        for seq in body.get("stop_sequences") or ():
            pos = text.find(seq) if seq else -1
            if pos != -1 and (stop_sequence is None or pos < text.find(stop_sequence)):
                stop_sequence = seq
        if stop_sequence is not None:
            text = text[: text.find(stop_sequence)]
            stop_reason = "stop_sequence"
        if text:
            blocks.append(Block("text", text))
    if sum(b.tokens() for b in blocks) > body["max_tokens"]:
        blocks = _truncate(blocks, body["max_tokens"])
        stop_reason, stop_sequence = "max_tokens", None
    total = prompt_tokens(body)
    read = min(knobs.cache_read_tokens, total)
    write = min(knobs.cache_write_tokens, total - read)
    return MessagePlan("msg_01" + uuid.uuid4().hex[:22], body["model"], blocks, stop_reason, stop_sequence,
                       total - read - write, read, write)


def _truncate(blocks: list[Block], limit: int) -> list[Block]:
    kept: list[Block] = []
    left = limit
    for block in blocks:
        cost = block.tokens()
        if cost <= left:
            kept.append(block)
            left -= cost
            continue
        if block.type in ("text", "thinking") and left > 0:
            text, _ = tokens.truncate(block.text, left)
            if text:
                kept.append(Block(block.type, text, signature=block.signature))
        break
    return kept


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for msg in reversed(messages):
        if msg["role"] == "user":
            return "\n".join(b.get("text") or "" for b in blocks_of(msg["content"]) if b.get("type") == "text")
    return ""


def _select_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = [t for t in body.get("tools") or () if t.get("type", "custom") == "custom"]
    choice = body.get("tool_choice") or {"type": "auto"}
    if not tools or choice.get("type") == "none":
        return []
    if choice["type"] == "tool":
        return [t for t in tools if t["name"] == choice.get("name")][:1]
    text = last_user_text(body["messages"]).lower()
    chosen = [t for t in tools if t["name"].lower() in text]
    if not chosen and choice["type"] == "any":
        chosen = tools[:1]
    return chosen[:1] if choice.get("disable_parallel_tool_use") else chosen


def _tool_results_text(messages: list[dict[str, Any]]) -> str | None:
    last = messages[-1]
    results = [b for b in blocks_of(last["content"]) if b.get("type") == "tool_result"] if last["role"] == "user" \
        else []
    if not results:
        return None
    names: dict[str, str] = {}
    for msg in messages:
        for b in blocks_of(msg["content"]):
            if b.get("type") == "tool_use":
                names[str(b.get("id"))] = str(b.get("name"))
    quoted = []
    for r in results:
        content = r.get("content")
        text = content if isinstance(content, str) else " ".join(
            b.get("text") or "" for b in content or () if isinstance(b, dict) and b.get("type") == "text")
        quoted.append(f"{names.get(r['tool_use_id'], r['tool_use_id'])} returned {text}")
    return "According to the tool results: " + "; ".join(quoted) + "."
