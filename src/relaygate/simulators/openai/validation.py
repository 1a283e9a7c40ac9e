"""Request-body validation for ``POST /chat/completions`` with the real API's wording.

Only the checks a relay can trip over are implemented; unknown fields are accepted and ignored
(the real API rejects them, but the gateway must be able to prove pass-through).
"""

from __future__ import annotations

import re
from typing import Any

from .errors import APIError
from .messages import empty_array, invalid_type, invalid_value, missing, validate_messages
from .replies import message_text

MAX_OUTPUT_TOKENS = 16384
_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")

_BOOL = "a boolean"
_INT = "an integer"
_NUM = "a number"
# name -> (expected JSON type wording, minimum, maximum)
_RANGES: dict[str, tuple[str, float, float]] = {
    "n": (_INT, 1, 128),
    "temperature": (_NUM, 0, 2),
    "top_p": (_NUM, 0, 1),
    "presence_penalty": (_NUM, -2, 2),
    "frequency_penalty": (_NUM, -2, 2),
    "top_logprobs": (_INT, 0, 20),
}


def validate_chat_body(body: Any) -> None:
    """Raise :class:`APIError` (400) describing the first problem, in the real API's style."""
    if not isinstance(body, dict):
        raise invalid_type("body", "an object", body)
    model = body.get("model")
    if model is None:
        raise APIError(400, "you must provide a model parameter")
    if not isinstance(model, str):
        raise invalid_type("model", "a string", model)
    validate_messages(body.get("messages"))
    for name in ("stream", "logprobs", "parallel_tool_calls", "store"):
        if body.get(name) is not None and not isinstance(body[name], bool):
            raise invalid_type(name, _BOOL, body[name])
    _validate_ranges(body)
    _validate_stream_options(body)
    for name in ("max_tokens", "max_completion_tokens"):
        _validate_max_tokens(name, body.get(name))
    if body.get("top_logprobs") is not None and body.get("logprobs") is not True:
        raise APIError(
            400, "Invalid value for 'top_logprobs': 'logprobs' must be set to true to use 'top_logprobs'.",
            param="top_logprobs", code="invalid_value",
        )
    _validate_stop(body.get("stop"))
    _validate_tools(body)
    _validate_functions(body)
    _validate_response_format(body)
    _validate_model_rules(body)


def _validate_ranges(body: dict[str, Any]) -> None:
    for name, (expected, low, high) in _RANGES.items():
        value = body.get(name)
        if value is None:
            continue
        ok_type = isinstance(value, int) if expected == _INT else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type:
            raise invalid_type(name, expected, value)
        kind = "integer" if expected == _INT else "decimal"
        if value < low:
            raise APIError(
                400, f"Invalid '{name}': {kind} below minimum value. Expected a value >= {low:g}, "
                f"but got {value} instead.", param=name, code=f"{kind}_below_min_value",
            )
        if value > high:
            raise APIError(
                400, f"Invalid '{name}': {kind} above maximum value. Expected a value <= {high:g}, "
                f"but got {value} instead.", param=name, code=f"{kind}_above_max_value",
            )


def _validate_stream_options(body: dict[str, Any]) -> None:
    options = body.get("stream_options")
    if options is None:
        return
    if body.get("stream") is not True:
        raise APIError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                       param="stream_options")
    if not isinstance(options, dict):
        raise invalid_type("stream_options", "an object", options)
    for name in ("include_usage", "include_obfuscation"):
        if options.get(name) is not None and not isinstance(options[name], bool):
            raise invalid_type(f"stream_options.{name}", _BOOL, options[name])


def _validate_max_tokens(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(name, _INT, value)
    if value < 1:
        raise APIError(
            400, f"Invalid '{name}': integer below minimum value. Expected a value >= 1, but got "
            f"{value} instead.", param=name, code="integer_below_min_value",
        )
    if value > MAX_OUTPUT_TOKENS:
        raise APIError(
            400, f"{name} is too large: {value}. This model supports at most {MAX_OUTPUT_TOKENS} "
            f"completion tokens, whereas you provided {value}.", param=name, code="invalid_value",
        )


def _validate_stop(stop: Any) -> None:
    if stop is None or isinstance(stop, str):
        return
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise invalid_type("stop", "one of a string or array of strings", stop)
    if len(stop) > 4:
        raise APIError(400, f"Invalid 'stop': array too long. Expected an array with maximum length 4, "
                       f"but got an array with length {len(stop)} instead.", param="stop",
                       code="array_above_max_length")


def _validate_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid_type("tools", "an array of objects", tools)
        if not tools:
            raise empty_array("tools")
        for i, tool in enumerate(tools):
            _validate_tool(i, tool)
    has_tools = bool(tools)
    for name in ("tool_choice", "parallel_tool_calls"):
        if body.get(name) is not None and not has_tools:
            raise APIError(400, f"Invalid value for '{name}': '{name}' is only allowed when 'tools' are "
                           "specified.", param=name)
    choice = body.get("tool_choice")
    if choice is None or choice in ("none", "auto", "required"):
        return
    if isinstance(choice, str):
        raise invalid_value("tool_choice", choice, ("none", "auto", "required"))
    if not isinstance(choice, dict):
        raise invalid_type("tool_choice", "one of a string or object", choice)
    if choice.get("type") == "function":
        wanted = (choice.get("function") or {}).get("name")
        names = {(t.get("function") or {}).get("name") for t in tools or []}
        if wanted not in names:
            raise APIError(400, f"Invalid value for 'tool_choice': function '{wanted}' not found in "
                           "'tools'.", param="tool_choice", code="invalid_value")
    elif choice.get("type") not in ("allowed_tools", "custom"):
        raise invalid_value("tool_choice.type", choice.get("type"), ("function", "allowed_tools", "custom"))


def _validate_tool(i: int, tool: Any) -> None:
    where = f"tools[{i}]"
    if not isinstance(tool, dict):
        raise invalid_type(where, "an object", tool)
    kind = tool.get("type")
    if kind not in ("function", "custom"):
        raise invalid_value(f"{where}.type", kind, ("function", "custom"))
    if kind == "custom":
        return
    function = tool.get("function")
    if not isinstance(function, dict):
        raise missing(f"{where}.function")
    _validate_function_def(f"{where}.function", function)


def _validate_function_def(where: str, function: dict[str, Any]) -> None:
    name = function.get("name")
    if name is None:
        raise missing(f"{where}.name")
    if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
        raise APIError(400, f"Invalid '{where}.name': string does not match pattern. Expected a string "
                       "that matches the pattern '^[a-zA-Z0-9_-]+$'.", param=f"{where}.name",
                       code="invalid_value")
    params = function.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise invalid_type(f"{where}.parameters", "an object", params)


def _validate_functions(body: dict[str, Any]) -> None:
    functions = body.get("functions")
    if functions is not None:
        if not isinstance(functions, list):
            raise invalid_type("functions", "an array of objects", functions)
        if not functions:
            raise empty_array("functions")
        for i, function in enumerate(functions):
            if not isinstance(function, dict):
                raise invalid_type(f"functions[{i}]", "an object", function)
            _validate_function_def(f"functions[{i}]", function)
    choice = body.get("function_call")
    if choice is None:
        return
    if not functions:
        raise APIError(400, "Invalid value for 'function_call': 'function_call' is only allowed when "
                       "'functions' are specified.", param="function_call")
    if isinstance(choice, dict):
        if choice.get("name") not in {f.get("name") for f in functions}:
            raise APIError(400, f"Invalid value for 'function_call': function '{choice.get('name')}' not "
                           "found in 'functions'.", param="function_call", code="invalid_value")
    elif choice not in ("none", "auto"):
        raise invalid_value("function_call", choice, ("none", "auto"))


def _validate_response_format(body: dict[str, Any]) -> None:
    fmt = body.get("response_format")
    if fmt is None:
        return
    if not isinstance(fmt, dict):
        raise invalid_type("response_format", "an object", fmt)
    kind = fmt.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise invalid_value("response_format.type", kind, ("text", "json_object", "json_schema"))
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise missing("response_format.json_schema.name")
    if kind == "json_object" and not any("json" in message_text(m).lower() for m in body["messages"]):
        raise APIError(400, "'messages' must contain the word 'json' in some form, to use "
                       "'response_format' of type 'json_object'.", param="messages")


def _validate_model_rules(body: dict[str, Any]) -> None:
    """Reasoning models reject ``max_tokens`` and non-default sampling — a classic relay bug."""
    if not body["model"].startswith(_REASONING_PREFIXES):
        return
    if body.get("max_tokens") is not None:
        raise APIError(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                       "'max_completion_tokens' instead.", param="max_tokens", code="unsupported_parameter")
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        raise APIError(400, f"Unsupported value: 'temperature' does not support {temperature} with this "
                       "model. Only the default (1) value is supported.", param="temperature",
                       code="unsupported_value")
