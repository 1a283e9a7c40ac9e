"""Request validation with the real API's wording (``<path>: <problem>``, pydantic style).

Checked because a gateway can get them wrong: required ``max_tokens``, unknown top-level fields
(the API rejects them), roles, block shapes (non-empty text, base64/url image sources,
``tool_use.input`` an object), tool_use/tool_result pairing across turns, sampling ranges,
tools and tool_choice, thinking budget rules, and no trailing whitespace in a prefill.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import invalid

KNOWN_FIELDS = frozenset({
    "model", "messages", "max_tokens", "system", "stop_sequences", "temperature", "top_p", "top_k", "tools",
    "tool_choice", "metadata", "stream", "thinking", "service_tier", "container", "mcp_servers",
    "context_management", "output_config", "inference_geo", "cache_control",
})
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
BLOCK_TYPES = frozenset({"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking",
                         "search_result", "server_tool_use", "web_search_tool_result", "container_upload"})
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


def validate(body: Any, *, count_only: bool = False) -> None:
    if not isinstance(body, dict):
        raise invalid("Input should be a valid dictionary or object to extract fields from")
    for name in body:
        if name not in KNOWN_FIELDS:
            raise invalid(f"{name}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid("model: Field required")
    if not count_only:
        _max_tokens(body.get("max_tokens"))
    messages = body.get("messages")
    if messages is None:
        raise invalid("messages: Field required")
    if not isinstance(messages, list):
        raise invalid("messages: Input should be a valid list")
    if not messages:
        raise invalid("messages: at least one message is required")
    for i, msg in enumerate(messages):
        _message(msg, i)
    _pairing(messages)
    _prefill(messages[-1])
    _system(body.get("system"))
    _sampling(body)
    _tools(body)
    if not count_only:
        _thinking(body)
    if "stream" in body and not isinstance(body["stream"], bool):
        raise invalid("stream: Input should be a valid boolean")
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or set(metadata) - {"user_id"}):
        raise invalid("metadata: only user_id is allowed")


def _max_tokens(value: Any) -> None:
    if value is None:
        raise invalid("max_tokens: Field required")
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid("max_tokens: Input should be a valid integer")
    if value < 1:
        raise invalid("max_tokens: Input should be greater than or equal to 1")


def blocks_of(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


def _message(msg: Any, i: int) -> None:
    where = f"messages.{i}"
    if not isinstance(msg, dict):
        raise invalid(f"{where}: Input should be a valid dictionary")
    if msg.get("role") not in ("user", "assistant"):
        raise invalid(f"{where}.role: Input should be 'user' or 'assistant'")
    content = msg.get("content")
    if isinstance(content, str):
        if not content and i != 0:
            raise invalid(f"{where}: all messages must have non-empty content except for the optional final "
                          "assistant message")
        return
    if not isinstance(content, list):
        raise invalid(f"{where}.content: Input should be a valid string or list")
    for j, block in enumerate(content):
        _block(block, f"{where}.content.{j}", msg["role"])


def _block(block: Any, where: str, role: str) -> None:
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        raise invalid(f"{where}: Input tag {block.get('type') if isinstance(block, dict) else None!r} found using "
                      "'type' does not match any of the expected tags")
    kind = block["type"]
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise invalid(f"{where}.text: Field required")
        if not block["text"]:
            raise invalid(f"{where}: text content blocks must be non-empty")
    elif kind == "image":
        _image(block.get("source"), f"{where}.source")
    elif kind == "tool_use":
        if role != "assistant":
            raise invalid(f"{where}: tool_use blocks are only allowed in assistant messages")
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            raise invalid(f"{where}: tool_use blocks need an id and a name")
        if not isinstance(block.get("input"), dict):
            raise invalid(f"{where}.input: Input should be a valid dictionary")
    elif kind == "tool_result":
        if role != "user":
            raise invalid(f"{where}: tool_result blocks are only allowed in user messages")
        if not isinstance(block.get("tool_use_id"), str):
            raise invalid(f"{where}.tool_use_id: Field required")
        content = block.get("content")
        if content is not None and not isinstance(content, str | list):
            raise invalid(f"{where}.content: Input should be a valid string or list")


def _image(source: Any, where: str) -> None:
    if not isinstance(source, dict):
        raise invalid(f"{where}: Field required")
    if source.get("type") == "base64":
        if source.get("media_type") not in IMAGE_TYPES:
            raise invalid(f"{where}.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or "
                          "'image/webp'")
        if not isinstance(source.get("data"), str) or not source["data"]:
            raise invalid(f"{where}.data: Field required")
    elif source.get("type") == "url":
        if not isinstance(source.get("url"), str) or not source["url"].startswith(("http://", "https://")):
            raise invalid(f"{where}.url: Input should be a valid URL")
    else:
        raise invalid(f"{where}: Input tag {source.get('type')!r} found using 'type' does not match any of the "
                      "expected tags: 'base64', 'url'")


def _pairing(messages: list[dict[str, Any]]) -> None:
    """Every tool_use is answered in the next message, and every tool_result answers the previous one."""
    for i, msg in enumerate(messages):
        if msg["role"] == "user":
            results = [b["tool_use_id"] for b in blocks_of(msg["content"]) if b.get("type") == "tool_result"]
            prev = messages[i - 1] if i else None
            uses = {b.get("id") for b in blocks_of(prev["content"]) if b.get("type") == "tool_use"} if prev else set()
            unexpected = [r for r in results if r not in uses]
            if unexpected:
                raise invalid(f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
                              f"{', '.join(unexpected)}. Each `tool_result` block must have a corresponding "
                              "`tool_use` block in the previous message.")
        elif i + 1 < len(messages):
            uses = [b.get("id") for b in blocks_of(msg["content"]) if b.get("type") == "tool_use"]
            after = blocks_of(messages[i + 1]["content"])
            nxt = {b.get("tool_use_id") for b in after if b.get("type") == "tool_result"}
            missing = [u for u in uses if u not in nxt]
            if missing:
                raise invalid(f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                              f"after: {', '.join(map(str, missing))}. Each `tool_use` block must have a "
                              "corresponding `tool_result` block in the next message.")


def _prefill(last: dict[str, Any]) -> None:
    if last["role"] != "assistant":
        return
    blocks = blocks_of(last["content"])
    if blocks and blocks[-1].get("type") == "text" and blocks[-1]["text"] != blocks[-1]["text"].rstrip():
        raise invalid("messages: final assistant content cannot end with trailing whitespace")


def _system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise invalid("system: Input should be a valid string or list")
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise invalid(f"system.{j}: Input should be a text block")
        if not block["text"]:
            raise invalid(f"system.{j}: text content blocks must be non-empty")


def _number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid(f"{name}: Input should be a valid number")
    if value < low:
        raise invalid(f"{name}: Input should be greater than or equal to {low:g}")
    if value > high:
        raise invalid(f"{name}: Input should be less than or equal to {high:g}")


def _sampling(body: dict[str, Any]) -> None:
    _number(body, "temperature", 0, 1)
    _number(body, "top_p", 0, 1)
    top_k = body.get("top_k")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0):
        raise invalid("top_k: Input should be a valid integer greater than or equal to 0")
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise invalid("stop_sequences: Input should be a valid list of strings")


def _tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid("tools: Input should be a valid list")
        for j, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise invalid(f"tools.{j}: Input should be a valid dictionary")
            if tool.get("type", "custom") != "custom":
                continue  # server tools (web_search...) have their own shapes
            name = tool.get("name")
            if not isinstance(name, str) or not TOOL_NAME.match(name):
                raise invalid(f"tools.{j}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                raise invalid(f"tools.{j}.custom.input_schema: Field required")
            if schema.get("type") != "object":
                raise invalid(f"tools.{j}.custom.input_schema.type: Input should be 'object'")
            if name in names:
                raise invalid(f"tools: Tool names must be unique. Duplicate: {name}")
            names.add(name)
    choice = body.get("tool_choice")
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise invalid("tool_choice: Input tag found using 'type' does not match any of the expected tags: "
                      "'auto', 'any', 'tool', 'none'")
    if choice["type"] == "tool" and choice.get("name") not in names:
        raise invalid(f"tool_choice: Tool '{choice.get('name')}' not found in tools")
    if choice["type"] != "none" and tools is None:
        raise invalid("tool_choice may only be specified while providing tools.")


def _thinking(body: dict[str, Any]) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled", "adaptive"):
        raise invalid("thinking: Input tag found using 'type' does not match any of the expected tags: "
                      "'enabled', 'disabled', 'adaptive'")
    if thinking["type"] != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1024:
        raise invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    if budget >= body["max_tokens"]:
        raise invalid("`max_tokens` must be greater than `thinking.budget_tokens`.")
    if body.get("temperature") not in (None, 1, 1.0):
        raise invalid("`temperature` may only be set to 1 when thinking is enabled.")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise invalid("Thinking may not be enabled when tool_choice forces tool use.")
