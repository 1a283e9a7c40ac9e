"""A ``POST /v1/messages`` body -> the canonical (OpenAI chat) request, plus the original.

Validation covers what the gateway relies on (model, max_tokens, messages, stream) with
Anthropic's wording; anything else is the upstream's to judge. The conversion is best effort
and never refuses: what has no OpenAI form (server tools, documents by URL, ...) is noted in
``NativeMessages.unsupported``, which matters only if the request is routed to a channel that
does not speak Anthropic (it is then refused there with a 400, and an ``anthropic`` channel
serving the same model can still take it as is).

Mapping (the inverse of providers/anthropic/request.py): ``system`` -> a system message;
``tool_result`` blocks -> ``tool`` messages placed before the rest of that user turn;
``tool_use`` -> ``tool_calls``; images -> ``image_url`` (base64 as data URLs); PDF documents ->
``file`` parts; ``stop_sequences`` -> ``stop`` (OpenAI takes at most 4); ``metadata.user_id`` ->
``user``; tool_choice any/tool/none -> required/named/none, ``disable_parallel_tool_use`` ->
``parallel_tool_calls: false``. Thinking, ``top_k`` and cache marks have no OpenAI form and are
dropped from the canonical request (an ``anthropic`` channel still gets them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from relaygate.api.errors import GatewayError
from relaygate.api.http import Scope, header
from relaygate.providers.anthropic.native import NativeMessages
from relaygate.providers.base import ChatRequest
from relaygate.relay.validate import MAX_OUTPUT_TOKENS, parse_json_object

_NEW_TOKEN_PARAM = ("o1", "o3", "o4", "gpt-5")  # OpenAI models that refuse max_tokens


def invalid(message: str) -> GatewayError:
    return GatewayError(400, message, "invalid_request_error")


def parse_messages(raw: bytes, scope: Scope, count_only: bool = False) -> ChatRequest:
    body = parse_json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise invalid("model: Field required")
    if len(model) > 256:
        raise invalid("model: String should have at most 256 characters")
    max_tokens = body.get("max_tokens")
    if not count_only:
        if max_tokens is None:
            raise invalid("max_tokens: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= MAX_OUTPUT_TOKENS:
            raise invalid(f"max_tokens: Input should be an integer between 1 and {MAX_OUTPUT_TOKENS}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: Field required" if messages is None else "messages: at least one message is required")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            raise invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if not isinstance(msg.get("content"), str | list):
            raise invalid(f"messages.{i}.content: Input should be a valid string or list")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("stream: Input should be a valid boolean")
    notes: list[str] = []
    canonical = to_openai(body, notes)
    native = NativeMessages(body=body, raw=raw, version=header(scope, b"anthropic-version"),
                            beta=header(scope, b"anthropic-beta"), unsupported="; ".join(notes) or None)
    return ChatRequest(body=canonical, model=model, stream=bool(stream), wants_usage=True, native=native)


def to_openai(body: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    model = body["model"]
    messages: list[dict[str, Any]] = []
    system = _text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for msg in body["messages"]:
        if msg["role"] == "user":
            messages.extend(_user(msg["content"], notes))
        else:
            messages.append(_assistant(msg["content"], notes))
    out: dict[str, Any] = {"model": model, "messages": messages}
    if isinstance(body.get("max_tokens"), int):
        name = "max_completion_tokens" if model.rsplit("/", 1)[-1].startswith(_NEW_TOKEN_PARAM) else "max_tokens"
        out[name] = body["max_tokens"]
    for name in ("temperature", "top_p"):
        if isinstance(body.get(name), int | float) and not isinstance(body[name], bool):
            out[name] = body[name]
    sequences = body.get("stop_sequences")
    stops = [s for s in sequences if isinstance(s, str)] if isinstance(sequences, list) else []
    if stops:
        out["stop"] = stops[:4]
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    _tools(body, out, notes)
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(b["text"] for b in value if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _user(content: Any, notes: list[str]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in _blocks(content):
        kind = block.get("type")
        if kind == "tool_result":
            out.append(_tool_result(block, parts, notes))
        elif kind == "text" and isinstance(block.get("text"), str):
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            parts.append(_image(block.get("source"), notes))
        elif kind == "document":
            parts.append(_document(block.get("source"), notes))
        else:
            notes.append(f"content blocks of type {kind!r}")
    if parts:
        only_text = len(parts) == 1 and parts[0]["type"] == "text"
        out.append({"role": "user", "content": parts[0]["text"] if only_text else parts})
    return out


def _tool_result(block: dict[str, Any], parts: list[dict[str, Any]], notes: list[str]) -> dict[str, Any]:
    content = block.get("content")
    texts: list[str] = []
    for item in _blocks(content) if content is not None else ():
        if item.get("type") == "text" and isinstance(item.get("text"), str):
            texts.append(item["text"])
        elif item.get("type") == "image":  # OpenAI tool messages are text: the image follows as user content
            parts.append(_image(item.get("source"), notes))
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = "Error: " + text
    return {"role": "tool", "tool_call_id": str(block.get("tool_use_id") or ""), "content": text}


def _image(source: Any, notes: list[str]) -> dict[str, Any]:
    source = source if isinstance(source, dict) else {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif source.get("type") == "url":
        url = str(source.get("url") or "")
    else:
        notes.append(f"image sources of type {source.get('type')!r}")
        url = ""
    return {"type": "image_url", "image_url": {"url": url}}


def _document(source: Any, notes: list[str]) -> dict[str, Any]:
    source = source if isinstance(source, dict) else {}
    if source.get("type") == "base64":
        data = f"data:{source.get('media_type')};base64,{source.get('data')}"
        return {"type": "file", "file": {"filename": "document.pdf", "file_data": data}}
    if source.get("type") == "text":
        return {"type": "text", "text": str(source.get("data") or "")}
    notes.append(f"document sources of type {source.get('type')!r}")
    return {"type": "text", "text": ""}


def _assistant(content: Any, notes: list[str]) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in _blocks(content):
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append({"id": str(block.get("id") or ""), "type": "function",
                          "function": {"name": str(block.get("name") or ""),
                                       "arguments": orjson.dumps(block.get("input") or {}).decode()}})
        elif kind not in ("thinking", "redacted_thinking"):
            notes.append(f"assistant content blocks of type {kind!r}")
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        msg["tool_calls"] = calls
    return msg


def _tools(body: dict[str, Any], out: dict[str, Any], notes: list[str]) -> None:
    tools = []
    for tool in body.get("tools") if isinstance(body.get("tools"), list) else ():
        if not isinstance(tool, dict):
            continue
        if tool.get("type", "custom") != "custom" or "input_schema" not in tool:
            notes.append(f"server tools ({tool.get('type') or tool.get('name')})")
            continue
        fn: dict[str, Any] = {"name": str(tool.get("name") or ""), "parameters": tool.get("input_schema") or {}}
        if isinstance(tool.get("description"), str):
            fn["description"] = tool["description"]
        tools.append({"type": "function", "function": fn})
    if tools:
        out["tools"] = tools
    choice = body.get("tool_choice")
    if not isinstance(choice, dict) or not tools:
        return
    kind = choice.get("type")
    if kind == "any":
        out["tool_choice"] = "required"
    elif kind == "tool" and isinstance(choice.get("name"), str):
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif kind in ("auto", "none"):
        out["tool_choice"] = kind
    if choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False


def image_path(req: ChatRequest, message: int, part: int) -> str | None:
    """Where the canonical image part ``messages[message].content[part]`` came from in the caller's body.

    Images keep their order through :func:`to_openai` (user turns only, tool_result images in
    place), so the n-th canonical image part is the n-th image block of the Anthropic body.
    """
    native: NativeMessages | None = req.native
    if native is None:
        return None
    ordinal = 0
    for i, msg in enumerate(req.body.get("messages") or ()):
        content = msg.get("content") if isinstance(msg, dict) else None
        for j, item in enumerate(content if isinstance(content, list) else ()):
            if (i, j) == (message, part):
                return next((p for n, p in enumerate(_image_paths(native.body)) if n == ordinal), None)
            if isinstance(item, dict) and item.get("type") == "image_url":
                ordinal += 1
    return None


def _image_paths(body: dict[str, Any]) -> Iterator[str]:
    for i, msg in enumerate(body.get("messages") or ()):
        if not isinstance(msg, dict) or msg.get("role") != "user" or not isinstance(msg.get("content"), list):
            continue
        for j, block in enumerate(msg["content"]):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "image":
                yield f"messages.{i}.content.{j}"
            elif kind == "tool_result" and isinstance(block.get("content"), list):
                for k, item in enumerate(block["content"]):
                    if isinstance(item, dict) and item.get("type") == "image":
                        yield f"messages.{i}.content.{j}.content.{k}"
