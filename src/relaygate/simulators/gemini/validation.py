"""GenerateContentRequest validation the way Google's proto-JSON front end does it.

Unknown fields anywhere are rejected (``Unknown name "x" at 'generation_config'``), camelCase
and snake_case names are both accepted, roles are ``user``/``model`` only, every content has
parts and every part exactly one data field, schema types are the upper-case enum, function
parameters of type OBJECT need properties, and ``allowedFunctionNames`` needs mode ANY.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import invalid

REQUEST = {"contents", "systemInstruction", "generationConfig", "tools", "toolConfig", "safetySettings",
           "cachedContent", "model", "labels"}
CONTENT = {"role", "parts"}
PART = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
        "codeExecutionResult", "thought", "thoughtSignature", "videoMetadata"}
PART_DATA = PART - {"thought", "thoughtSignature", "videoMetadata"}
GENERATION = {"stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "responseModalities",
              "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty",
              "frequencyPenalty", "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers", "speechConfig",
              "thinkingConfig", "mediaResolution"}
THINKING = {"thinkingBudget", "includeThoughts", "thinkingLevel"}
TOOL = {"functionDeclarations", "googleSearch", "googleSearchRetrieval", "codeExecution", "urlContext"}
DECLARATION = {"name", "description", "parameters", "parametersJsonSchema", "response", "behavior"}
SCHEMA = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
          "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
          "propertyOrdering", "default", "items", "minimum", "maximum"}
SCHEMA_TYPES = {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
MODES = {"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"}


def camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def normalise(value: Any) -> Any:
    """snake_case keys -> camelCase (the proto JSON mapping accepts both), except inside free-form
    objects (function args/response), which are data."""
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        name = camel(key)
        out[name] = item if name in ("args", "response", "example", "default") else normalise(item)
    if isinstance(value.get("properties"), dict):
        out["properties"] = {k: normalise(v) for k, v in value["properties"].items()}
    return out


def _fields(obj: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise invalid(f"Invalid value at '{where}', expected an object.")
    for name in obj:
        if name not in allowed:
            at = f" at '{where}'" if where else ""
            raise invalid(f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.')
    return obj


def validate(body: Any) -> dict[str, Any]:
    body = _fields(normalise(body), REQUEST, "")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise invalid("* GenerateContentRequest.contents: contents is not specified\n")
    for i, content in enumerate(contents):
        _content(content, f"contents[{i}]", roles=("user", "model"))
    if body.get("systemInstruction") is not None:
        _content(body["systemInstruction"], "system_instruction", roles=None)
    _generation(body.get("generationConfig"))
    for j, tool in enumerate(body.get("tools") or ()):
        _tool(tool, j)
    config = body.get("toolConfig")
    if config is not None:
        fcc = _fields(_fields(config, {"functionCallingConfig", "retrievalConfig"}, "tool_config")
                      .get("functionCallingConfig") or {}, {"mode", "allowedFunctionNames"},
                      "tool_config.function_calling_config")
        mode = fcc.get("mode", "AUTO")
        if mode not in MODES:
            raise invalid(f"Invalid value at 'tool_config.function_calling_config.mode' ({mode!r})")
        if fcc.get("allowedFunctionNames") and mode not in ("ANY", "VALIDATED"):
            raise invalid("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
                          "allowed_function_names should be set only when the mode is ANY or VALIDATED.\n")
    for k, setting in enumerate(body.get("safetySettings") or ()):
        _fields(setting, {"category", "threshold", "method"}, f"safety_settings[{k}]")
    return body


def _content(content: Any, where: str, roles: tuple[str, ...] | None) -> None:
    content = _fields(content, CONTENT, where)
    if roles is not None and content.get("role") not in roles:
        raise invalid("Please use a valid role: user, model.")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise invalid(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.\n")
    for j, part in enumerate(parts):
        part = _fields(part, PART, f"{where}.parts[{j}]")
        data = [k for k in part if k in PART_DATA]
        if len(data) != 1:
            raise invalid(f"Invalid value at '{where}.parts[{j}]': exactly one of the data fields must be set.")
        kind = data[0]
        if kind == "text" and not isinstance(part["text"], str):
            raise invalid(f"Invalid value at '{where}.parts[{j}].text', expected a string.")
        if kind == "inlineData":
            blob = _fields(part[kind], {"mimeType", "data"}, f"{where}.parts[{j}].inline_data")
            if not blob.get("mimeType") or not isinstance(blob.get("data"), str):
                raise invalid(f"* GenerateContentRequest.{where}.parts[{j}].inline_data: mime_type and data are "
                              "required\n")
        if kind == "fileData":
            _fields(part[kind], {"mimeType", "fileUri", "displayName"}, f"{where}.parts[{j}].file_data")
        if kind in ("functionCall", "functionResponse"):
            call = _fields(part[kind], {"name", "args", "response", "id", "willContinue", "scheduling"},
                           f"{where}.parts[{j}]")
            if not isinstance(call.get("name"), str) or not call["name"]:
                raise invalid(f"* GenerateContentRequest.{where}.parts[{j}]: name must be set\n")
            payload = call.get("args" if kind == "functionCall" else "response")
            if payload is not None and not isinstance(payload, dict):
                raise invalid(f"Invalid value at '{where}.parts[{j}]' (google.protobuf.Struct)")


def _generation(config: Any) -> None:
    if config is None:
        return
    config = _fields(config, GENERATION, "generation_config")
    if config.get("thinkingConfig") is not None:
        _fields(config["thinkingConfig"], THINKING, "generation_config.thinking_config")
    temperature = config.get("temperature")
    if temperature is not None and not (isinstance(temperature, int | float) and 0 <= temperature <= 2):
        raise invalid("* GenerateContentRequest.generation_config.temperature: must be in the range [0, 2]\n")
    for name in ("maxOutputTokens", "candidateCount", "topK"):
        value = config.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise invalid(f"Invalid value at 'generation_config.{name}' (TYPE_INT32), {value!r}")
    count = config.get("candidateCount")
    if isinstance(count, int) and count > 8:
        raise invalid("* GenerateContentRequest.generation_config.candidate_count: must be in [1, 8]\n")
    stops = config.get("stopSequences")
    if stops is not None and (not isinstance(stops, list) or len(stops) > 5):
        raise invalid("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences\n")
    if config.get("responseSchema") is not None:
        schema(config["responseSchema"], "generation_config.response_schema")
        if config.get("responseMimeType") not in ("application/json", "text/x.enum"):
            raise invalid("* GenerateContentRequest.generation_config.response_mime_type: response_mime_type must "
                          "be one of ['application/json', 'text/x.enum'] when response_schema is set.\n")


def _tool(tool: Any, j: int) -> None:
    tool = _fields(tool, TOOL, f"tools[{j}]")
    for k, decl in enumerate(tool.get("functionDeclarations") or ()):
        where = f"tools[{j}].function_declarations[{k}]"
        decl = _fields(decl, DECLARATION, where)
        if not isinstance(decl.get("name"), str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_.\-:]{0,63}$", decl["name"]):
            raise invalid(f"* GenerateContentRequest.{where}.name: Invalid function name.\n")
        if decl.get("parameters") is not None:
            schema(decl["parameters"], f"{where}.parameters")


def schema(node: Any, where: str, depth: int = 0) -> None:
    node = _fields(node, SCHEMA, where)
    kind = node.get("type")
    if kind is not None and kind not in SCHEMA_TYPES:
        raise invalid(f"Invalid value at '{where}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta."
                      f"Type), \"{kind}\"")
    if kind == "OBJECT" and not node.get("properties") and depth == 0 and where.endswith(".parameters"):
        raise invalid(f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type\n")
    for name, sub in (node.get("properties") or {}).items():
        schema(sub, f"{where}.properties[{name}].value", depth + 1)
    if node.get("items") is not None:
        schema(node["items"], f"{where}.items", depth + 1)
    for k, sub in enumerate(node.get("anyOf") or ()):
        schema(sub, f"{where}.any_of[{k}]", depth + 1)
    if node.get("enum") is not None and not all(isinstance(v, str) for v in node["enum"]):
        raise invalid(f"Invalid value at '{where}.enum', expected strings.")
