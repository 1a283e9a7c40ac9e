"""Tools, tool_choice, legacy functions and response_format for the Messages API.

``response_format`` has no Anthropic field, so JSON mode is emulated with a forced tool: the
schema becomes the ``input_schema`` of a tool named :data:`JSON_TOOL`, ``tool_choice`` forces
it, and the reply's ``tool_use`` input is returned to the caller as the message *content* (a
JSON string) with ``finish_reason: "stop"``. Tool input is generated under the schema by the
model itself, which is the most faithful emulation the API offers (a prompt instruction is not
binding). ``json_object`` uses the schema ``{"type": "object"}``. When the caller also gives
tools of its own, the JSON tool is offered next to them and the system prompt asks for it for
the final answer; when thinking is on (which forbids forced tool use) the same instruction is
used with ``tool_choice: auto``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relaygate.providers.base import UpstreamError, UpstreamFailure

JSON_TOOL = "json_response"
JSON_INSTRUCTION = (f"When you give your final answer, give it only by calling the `{JSON_TOOL}` tool "
                    "with the answer as its input.")
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True, slots=True)
class ReplyShape:
    """How the Anthropic reply maps back: JSON-mode tool name, legacy ``function_call`` replies."""

    json_tool: str | None = None
    wrapped: bool = False  # the JSON schema's root was not an object and sits under "value"
    legacy: bool = False


def reply_shape(body: dict[str, Any]) -> ReplyShape:
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    json_tool = JSON_TOOL if kind in ("json_object", "json_schema") else None
    wrapped = kind == "json_schema" and _schema_of(fmt).get("type", "object") != "object"
    return ReplyShape(json_tool, wrapped, legacy=bool(body.get("functions")) and not body.get("tools"))


def reject(message: str) -> UpstreamFailure:
    """The request cannot be expressed in this protocol: the caller's 400, but another channel
    type may still serve it, so the pipeline keeps looking."""
    return UpstreamFailure(UpstreamError(400, message, "invalid_request_error", "unsupported_for_provider",
                                         retryable=True, channel_fault=False))


def convert_tools(body: dict[str, Any], thinking: bool) -> tuple[list[dict[str, Any]], dict[str, Any] | None, bool]:
    """(tools, tool_choice, needs the JSON instruction in the system prompt)."""
    tools: list[dict[str, Any]] = []
    choice: dict[str, Any] | None = None
    if body.get("tools"):
        if not isinstance(body["tools"], list):
            raise reject("tools must be an array of tools.")
        for i, tool in enumerate(body["tools"]):
            if not isinstance(tool, dict) or tool.get("type", "function") != "function":
                raise reject(f"tools[{i}]: only function tools can be sent to this model.")
            tools.append(_tool(tool.get("function"), i))
        choice = _tool_choice(body.get("tool_choice"))
    elif body.get("functions"):
        if not isinstance(body["functions"], list):
            raise reject("functions must be an array of functions.")
        tools = [_tool(fn, i) for i, fn in enumerate(body["functions"])]
        choice = _function_call(body.get("function_call"))
    if choice is not None and body.get("parallel_tool_calls") is False and choice["type"] != "none":
        choice = {**choice, "disable_parallel_tool_use": True}
    shape = reply_shape(body)
    if shape.json_tool is None:
        return tools, (choice if tools else None), False
    json_tool = _json_tool(body["response_format"], shape.wrapped)
    if not tools or (choice is not None and choice["type"] == "none"):
        forced = {"type": "auto"} if thinking else {"type": "tool", "name": JSON_TOOL}
        return [json_tool], forced, thinking
    return [*tools, json_tool], choice, True


def _tool(fn: Any, i: int) -> dict[str, Any]:
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise reject(f"tools[{i}]: a function with a name is required.")
    params = fn.get("parameters")
    out: dict[str, Any] = {"name": fn["name"],
                           "input_schema": params if isinstance(params, dict) and params else EMPTY_SCHEMA}
    if isinstance(fn.get("description"), str) and fn["description"]:
        out["description"] = fn["description"]
    if "type" not in out["input_schema"]:
        out["input_schema"] = {"type": "object", **out["input_schema"]}
    return out


def _tool_choice(choice: Any) -> dict[str, Any]:
    if choice in (None, "auto"):
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") if isinstance(choice.get("function"), dict) else None
        if isinstance(name, str):
            return {"type": "tool", "name": name}
    raise reject("tool_choice must be 'auto', 'none', 'required' or a named function.")


def _function_call(choice: Any) -> dict[str, Any]:
    if choice in (None, "auto"):
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and isinstance(choice.get("name"), str):
        return {"type": "tool", "name": choice["name"]}
    raise reject("function_call must be 'auto', 'none' or {\"name\": ...}.")


def _schema_of(fmt: dict[str, Any]) -> dict[str, Any]:
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return schema if isinstance(schema, dict) else {"type": "object"}


def _json_tool(fmt: dict[str, Any], wrapped: bool) -> dict[str, Any]:
    if fmt.get("type") == "json_object":
        return {"name": JSON_TOOL, "description": "Give the answer as a JSON object.",
                "input_schema": {"type": "object"}}
    spec = fmt.get("json_schema") if isinstance(fmt.get("json_schema"), dict) else {}
    schema = _schema_of(fmt)
    if wrapped:
        schema = {"type": "object", "properties": {"value": schema}, "required": ["value"]}
    description = "Give the answer as JSON matching the input schema"
    if spec.get("name"):
        description += f" ({spec['name']})"
    if spec.get("description"):
        description += f": {spec['description']}"
    return {"name": JSON_TOOL, "description": description + ".", "input_schema": schema}
