"""OpenAI chat request -> Anthropic Messages request body.

The rules (see ``shared/protocols/anthropic.md`` §6.1), and why where it is not obvious:

* ``system``/``developer`` messages, wherever they are, become the top-level ``system`` (one
  string when there is exactly one plain system message, else one text block per message so
  ``cache_control`` marks survive).
* Consecutive turns of the same role are merged: Anthropic alternates user/assistant, and tool
  results (OpenAI ``tool`` messages) live in *user* turns, so several tool messages become one
  user turn of ``tool_result`` blocks, placed before any user text that follows.
* A conversation that starts with an assistant turn gets a minimal user turn in front.
* ``max_tokens`` is required upstream: the caller's limit, else the limit the reservation used.
* ``temperature`` is clamped to Anthropic's 0..1 (OpenAI allows up to 2; clamping keeps 0..1
  requests exact, where halving would change every one of them).
* ``reasoning_effort`` turns thinking on with a budget per effort; ``thinking`` and ``top_k`` pass
  through as extensions. Fields with no Anthropic meaning (seed, penalties, logprobs...) are
  dropped, since the Messages API rejects unknown fields; ``n`` > 1 cannot be served.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from relaygate.providers.anthropic.tools import JSON_INSTRUCTION, convert_tools, reject
from relaygate.providers.base import ChatRequest

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[^,]*)?,", re.ASCII)
REASONING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
MIN_THINKING_BUDGET = 1024
PLACEHOLDER_USER_TEXT = "."

Block = dict[str, Any]


def build_body(req: ChatRequest) -> dict[str, Any]:
    body = req.body
    if isinstance(body.get("n"), int) and body["n"] > 1:
        raise reject("n > 1 is not supported by this model; send one request per choice.")
    system, messages = convert_messages(body["messages"])
    out: dict[str, Any] = {"model": req.upstream_model, "messages": messages,
                           "max_tokens": _max_tokens(body, req)}
    thinking = _thinking(body, out["max_tokens"])
    if thinking is not None:
        out["thinking"] = thinking
    enabled = bool(thinking and thinking.get("type") == "enabled")
    tools, choice, instruct = convert_tools(body, enabled)
    if instruct:
        system = [*_as_blocks(system), {"type": "text", "text": JSON_INSTRUCTION}]
    if system:
        out["system"] = system
    if tools:
        out["tools"] = tools
    if choice is not None:
        out["tool_choice"] = choice
    _sampling(body, out, derived_thinking=enabled and "thinking" not in body)
    if isinstance(body.get("user"), str) and body["user"]:
        out["metadata"] = {"user_id": body["user"]}
    if req.stream:
        out["stream"] = True
    return out


def _max_tokens(body: dict[str, Any], req: ChatRequest) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return req.output_limit or 4096


def _thinking(body: dict[str, Any], max_tokens: int) -> dict[str, Any] | None:
    if isinstance(body.get("thinking"), dict):
        return body["thinking"]
    effort = body.get("reasoning_effort")
    budget = REASONING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None:
        return None
    budget = min(budget, max_tokens - 1)  # Anthropic requires budget_tokens < max_tokens
    if budget < MIN_THINKING_BUDGET:
        return None  # too small a limit to think within: answer without thinking
    return {"type": "enabled", "budget_tokens": budget}


def _sampling(body: dict[str, Any], out: dict[str, Any], derived_thinking: bool) -> None:
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool) and not derived_thinking:
        out["temperature"] = min(1.0, max(0.0, float(temperature)))
    for name in ("top_p", "top_k"):
        value = body.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and not derived_thinking:
            out[name] = value
    stop = body.get("stop")
    sequences = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    sequences = [s for s in sequences if isinstance(s, str) and s.strip()]
    if sequences:
        out["stop_sequences"] = sequences


# --- messages -------------------------------------------------------------------------------


def convert_messages(messages: list[dict[str, Any]]) -> tuple[str | list[Block] | None, list[dict[str, Any]]]:
    system: list[Block] = []
    plain_system: list[str] = []
    turns: list[dict[str, Any]] = []
    legacy_ids: dict[str, list[str]] = {}
    for i, msg in enumerate(messages):
        role = msg["role"]
        content = msg.get("content")
        if role in ("system", "developer"):
            blocks = _text_blocks(content, i)
            system.extend(blocks)
            if isinstance(content, str):
                plain_system.append(content)
            continue
        if role == "user":
            blocks = _user_blocks(content, i)
        elif role == "assistant":
            blocks = _assistant_blocks(msg, i, legacy_ids)
        elif role == "tool":
            role, blocks = "user", [_tool_result(msg.get("tool_call_id"), content, i)]
        elif role == "function":
            name = str(msg.get("name") or "")
            pending = legacy_ids.get(name)
            call_id = pending.pop(0) if pending else _legacy_id(name, i)
            role, blocks = "user", [_tool_result(call_id, content, i)]
        else:
            raise reject(f"messages[{i}]: the role {role!r} is not supported by this model.")
        if blocks:
            _append(turns, role, blocks)
    if not turns:
        raise reject("At least one user or assistant message is required.")
    _trim_prefill(turns)
    if not turns or turns[0]["role"] == "assistant":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": PLACEHOLDER_USER_TEXT}]})
    for turn in turns:
        blocks = turn["content"]
        if len(blocks) == 1 and blocks[0]["type"] == "text" and len(blocks[0]) == 2:
            turn["content"] = blocks[0]["text"]
    if len(plain_system) == 1 and len(system) == 1:
        return plain_system[0], turns
    return (system or None), turns


def _append(turns: list[dict[str, Any]], role: str, blocks: list[Block]) -> None:
    if not turns or turns[-1]["role"] != role:
        turns.append({"role": role, "content": blocks})
        return
    existing = turns[-1]["content"]
    if blocks[0]["type"] == "tool_result":  # results go first in a user turn, in order
        at = next((k for k, b in enumerate(existing) if b["type"] != "tool_result"), len(existing))
        existing[at:at] = blocks
    else:
        existing.extend(blocks)


def _trim_prefill(turns: list[dict[str, Any]]) -> None:
    """A final assistant turn is a prefill, and Anthropic rejects one ending in whitespace."""
    turn = turns[-1]
    if turn["role"] != "assistant" or turn["content"][-1]["type"] != "text":
        return
    last = turn["content"][-1]
    last["text"] = last["text"].rstrip()
    if not last["text"]:
        turn["content"].pop()
        if not turn["content"]:
            turns.pop()


def _as_blocks(system: str | list[Block] | None) -> list[Block]:
    if system is None:
        return []
    return [{"type": "text", "text": system}] if isinstance(system, str) else list(system)


def _text_blocks(content: Any, i: int) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[Block] = []
    for part in content if isinstance(content, list) else ():
        if isinstance(part, dict) and part.get("type") in ("text", "refusal"):
            text = part.get("text") if part.get("type") == "text" else part.get("refusal")
            if isinstance(text, str) and text:
                blocks.append(_with_cache({"type": "text", "text": text}, part))
    return blocks


def _user_blocks(content: Any, i: int) -> list[Block]:
    if isinstance(content, str) or content is None:
        return _text_blocks(content, i)
    if not isinstance(content, list):
        raise reject(f"messages[{i}].content must be a string or an array of parts.")
    blocks: list[Block] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.extend(_text_blocks([part], i))
        elif kind == "image_url":
            blocks.append(_with_cache(image_block(part.get("image_url"), f"messages[{i}].content[{j}]"), part))
        elif kind == "file":
            blocks.append(_document(part.get("file"), f"messages[{i}].content[{j}]"))
        elif kind == "input_audio":
            raise reject(f"messages[{i}].content[{j}]: audio input is not supported by this model.")
        else:
            raise reject(f"messages[{i}].content[{j}]: unsupported content part type {kind!r}.")
    return blocks


def image_block(image: Any, where: str) -> Block:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise reject(f"{where}: image_url.url is required.")
    if url.startswith("data:"):
        media_type, data = parse_data_url(url, where)
        if media_type == "image/jpg":
            media_type = "image/jpeg"
        if media_type not in IMAGE_TYPES:
            raise reject(f"{where}: image type {media_type!r} is not supported; "
                         "use image/jpeg, image/png, image/gif or image/webp.")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise reject(f"{where}: image_url.url must be an http(s) URL or a base64 data URL.")


def parse_data_url(url: str, where: str) -> tuple[str, str]:
    match = _DATA_URL.match(url)
    if match is None or not match.group(1) or "base64" not in (match.group(2) or ""):
        raise reject(f"{where}: only base64 data URLs (data:<type>;base64,...) are supported.")
    return match.group(1).lower(), url[match.end():]


def _document(file: Any, where: str) -> Block:
    data = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data, str):
        raise reject(f"{where}: file parts need inline file_data (file ids are not supported by this model).")
    if not data.startswith("data:"):
        return {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": data}}
    media_type, payload = parse_data_url(data, where)
    if media_type != "application/pdf":
        raise reject(f"{where}: only PDF files are supported by this model.")
    return {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": payload}}


def _assistant_blocks(msg: dict[str, Any], i: int, legacy_ids: dict[str, list[str]]) -> list[Block]:
    blocks = _text_blocks(msg.get("content"), i)
    calls = msg.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise reject(f"messages[{i}].tool_calls: each call needs a function name.")
        blocks.append({"type": "tool_use", "id": str(call.get("id") or _legacy_id(fn["name"], i)),
                       "name": fn["name"], "input": arguments(fn.get("arguments"))})
    fn = msg.get("function_call")
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        call_id = _legacy_id(fn["name"], i)
        legacy_ids.setdefault(fn["name"], []).append(call_id)
        blocks.append({"type": "tool_use", "id": call_id, "name": fn["name"],
                       "input": arguments(fn.get("arguments"))})
    return blocks


def arguments(text: Any) -> dict[str, Any]:
    """OpenAI arguments are a JSON string; Anthropic wants an object. Unparseable -> {}."""
    if isinstance(text, dict):
        return text
    try:
        value = orjson.loads(text) if isinstance(text, str | bytes) and text else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def _tool_result(call_id: Any, content: Any, i: int) -> Block:
    if not isinstance(call_id, str) or not call_id:
        raise reject(f"messages[{i}]: a tool message needs its tool_call_id.")
    block: Block = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif isinstance(content, list):
        parts = _text_blocks(content, i) + [image_block(p.get("image_url"), f"messages[{i}]")
                                            for p in content if isinstance(p, dict) and p.get("type") == "image_url"]
        if parts:
            block["content"] = parts
    return block


def _legacy_id(name: str, i: int) -> str:
    """Legacy function calls carry no id; the call and its result get the same made-up one."""
    return f"toolu_fn_{i}_{re.sub(r'[^A-Za-z0-9_-]', '_', name)[:40]}"


def _with_cache(block: Block, part: dict[str, Any]) -> Block:
    """``cache_control`` on an OpenAI part (an extension clients use for Claude) is kept."""
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block
