"""Validation of ``messages`` the way the real API rejects them (400, 4-key error, exact ``param``).

Kept apart from the scalar parameter checks because the role/part rules and the tool-call ordering
rule are where gateways most often produce invalid upstream requests (e.g. a ``tool`` message that
lost its ``tool_call_id`` in translation), so it pays to be strict and precise here.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from .errors import APIError

ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_PARTS_BY_ROLE: dict[str, tuple[str, ...]] = {
    "system": ("text",),
    "developer": ("text",),
    "user": ("text", "image_url", "input_audio", "file"),
    "assistant": ("text", "refusal"),
    "tool": ("text",),
}
_ALL_PARTS = ("text", "image_url", "input_audio", "refusal", "audio", "file")
_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp);base64,(.*)$", re.DOTALL)


def type_name(value: Any) -> str:
    """JSON type wording used in OpenAI's ``Invalid type for ...`` messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def invalid_type(param: str, expected: str, value: Any) -> APIError:
    return APIError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def missing(param: str) -> APIError:
    return APIError(400, f"Missing required parameter: '{param}'.", param=param,
                    code="missing_required_parameter")


def invalid_value(param: str, value: Any, supported: tuple[str, ...]) -> APIError:
    listed = ", ".join(f"'{s}'" for s in supported[:-1]) + f", and '{supported[-1]}'"
    if len(supported) == 1:
        listed = f"'{supported[0]}'"
    return APIError(400, f"Invalid value: '{value}'. Supported values are: {listed}.", param=param,
                    code="invalid_value")


def empty_array(param: str) -> APIError:
    return APIError(
        400,
        f"Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty "
        "array instead.",
        param=param,
        code="empty_array",
    )


def validate_messages(messages: Any) -> None:
    """Raise :class:`APIError` for the first problem found, in message order."""
    if messages is None:
        raise missing("messages")
    if not isinstance(messages, list):
        raise invalid_type("messages", "an array of objects", messages)
    if not messages:
        raise empty_array("messages")
    for i, message in enumerate(messages):
        _validate_message(i, message)
    _validate_tool_sequence(messages)


def _validate_message(i: int, message: Any) -> None:
    where = f"messages[{i}]"
    if not isinstance(message, dict):
        raise invalid_type(where, "an object", message)
    role = message.get("role")
    if role is None:
        raise missing(f"{where}.role")
    if role not in ROLES:
        raise invalid_value(f"{where}.role", role, ROLES)
    if "name" in message and not isinstance(message["name"], str):
        raise invalid_type(f"{where}.name", "a string", message["name"])
    content = message.get("content")
    if role == "assistant":
        if content is None and not (message.get("tool_calls") or message.get("function_call")):
            raise APIError(400, "Invalid value for 'content': expected a string, got null.",
                           param=f"messages.[{i}].content")
        _validate_tool_calls(where, message.get("tool_calls"))
    elif role == "function":
        if not isinstance(message.get("name"), str):
            raise missing(f"{where}.name")
        if content is not None and not isinstance(content, str):
            raise invalid_type(f"{where}.content", "a string", content)
        return
    else:
        if "content" not in message:
            raise missing(f"{where}.content")
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            if "tool_call_id" not in message:
                raise missing(f"{where}.tool_call_id")
            raise invalid_type(f"{where}.tool_call_id", "a string", message["tool_call_id"])
    if content is None and role == "assistant":
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise invalid_type(f"{where}.content", "one of a string or array of objects", content)
    if not content and role == "user":
        raise empty_array(f"{where}.content")
    for j, part in enumerate(content):
        _validate_part(f"{where}.content[{j}]", role, part, i)


def _validate_part(where: str, role: str, part: Any, i: int) -> None:
    if not isinstance(part, dict):
        raise invalid_type(where, "an object", part)
    kind = part.get("type")
    if kind is None:
        raise missing(f"{where}.type")
    if kind not in _ALL_PARTS:
        raise invalid_value(f"{where}.type", kind, _ALL_PARTS)
    if kind not in _PARTS_BY_ROLE[role]:
        if kind == "image_url":
            raise APIError(
                400,
                f"Invalid 'messages[{i}]'. Image URLs are only allowed for messages with role 'user', "
                f"but this message with role '{role}' contains an image URL.",
                param=f"messages[{i}]",
                code="invalid_value",
            )
        raise invalid_value(f"{where}.type", kind, _PARTS_BY_ROLE[role])
    field = part.get(kind)
    if kind in ("text", "refusal"):
        if field is None:
            raise missing(f"{where}.{kind}")
        if not isinstance(field, str):
            raise invalid_type(f"{where}.{kind}", "a string", field)
    elif kind == "image_url":
        _validate_image(f"{where}.image_url", field)
    elif kind == "input_audio":
        if not isinstance(field, dict) or not isinstance(field.get("data"), str):
            raise missing(f"{where}.input_audio.data")
        if field.get("format") not in ("wav", "mp3"):
            raise invalid_value(f"{where}.input_audio.format", field.get("format"), ("wav", "mp3"))
    elif kind == "file" and not (
        isinstance(field, dict) and (isinstance(field.get("file_id"), str) or
                                     isinstance(field.get("file_data"), str))
    ):
        raise missing(f"{where}.file.file_id")


def _validate_image(where: str, image: Any) -> None:
    """Accept http(s) and base64 image data URLs; never fetch anything."""
    if not isinstance(image, dict) or not isinstance(image.get("url"), str):
        raise missing(f"{where}.url")
    url = image["url"]
    detail = image.get("detail")
    if detail is not None and detail not in ("auto", "low", "high"):
        raise invalid_value(f"{where}.detail", detail, ("auto", "low", "high"))
    if url.startswith(("http://", "https://")):
        return
    match = _DATA_URL.match(url)
    try:
        ok = match is not None and bool(base64.b64decode(match.group(2), validate=True))
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise APIError(
            400,
            f"Invalid '{where}.url'. Expected a base64-encoded data URL with an image MIME type (e.g. "
            "'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got an invalid value.",
            param=f"{where}.url",
            code="invalid_value",
        )


def _validate_tool_calls(where: str, calls: Any) -> None:
    if calls is None:
        return
    if not isinstance(calls, list):
        raise invalid_type(f"{where}.tool_calls", "an array of objects", calls)
    for k, call in enumerate(calls):
        at = f"{where}.tool_calls[{k}]"
        if not isinstance(call, dict):
            raise invalid_type(at, "an object", call)
        if not isinstance(call.get("id"), str):
            raise missing(f"{at}.id")
        if call.get("type", "function") not in ("function", "custom"):
            raise invalid_value(f"{at}.type", call.get("type"), ("function", "custom"))
        function = call.get("function")
        if call.get("type", "function") == "function":
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise missing(f"{at}.function.name")
            if not isinstance(function.get("arguments"), str):
                raise missing(f"{at}.function.arguments")


def _validate_tool_sequence(messages: list[dict[str, Any]]) -> None:
    """Tool results must answer the directly preceding assistant ``tool_calls``, all of them."""
    pending: set[str] | None = None
    opened_at = 0
    for i, message in enumerate(messages):
        if message["role"] == "tool":
            if pending is None:
                raise APIError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                    "message with 'tool_calls'.",
                    param=f"messages.[{i}].role",
                )
            call_id = message["tool_call_id"]
            if call_id not in pending and call_id not in _answered(messages, opened_at, i):
                raise APIError(
                    400,
                    f"Invalid parameter: 'tool_call_id' of '{call_id}' not found in 'tool_calls' of "
                    "previous message.",
                    param=f"messages.[{i}].tool_call_id",
                )
            pending.discard(call_id)
            continue
        _raise_if_unanswered(pending, opened_at)
        pending = None
        if message["role"] == "assistant" and message.get("tool_calls"):
            pending = {c["id"] for c in message["tool_calls"]}
            opened_at = i
    _raise_if_unanswered(pending, opened_at)


def _answered(messages: list[dict[str, Any]], start: int, stop: int) -> set[str]:
    return {m["tool_call_id"] for m in messages[start + 1 : stop] if m["role"] == "tool"}


def _raise_if_unanswered(pending: set[str] | None, opened_at: int) -> None:
    if pending:
        raise APIError(
            400,
            "An assistant message with 'tool_calls' must be followed by tool messages responding to "
            "each 'tool_call_id'. The following tool_call_ids did not have response messages: "
            + ", ".join(sorted(pending)),
            param=f"messages.[{opened_at}].role",
        )
