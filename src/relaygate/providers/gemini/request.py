"""OpenAI chat request -> Gemini ``generateContent`` body (protocol notes §6.1).

* ``system``/``developer`` messages -> ``systemInstruction``; ``assistant`` -> role ``model``;
  tool results -> ``functionResponse`` parts in a ``user`` turn. Gemini matches a result to its
  call by function *name*, so the names of earlier ``tool_calls`` are looked up by id.
  Consecutive turns of the same role are merged (Gemini wants alternating turns).
* Images: data URLs -> ``inlineData``; Files API and Cloud Storage URIs -> ``fileData`` (the only
  URIs Gemini reads itself). Other http(s) URLs must arrive inline: the adapter's ``must_inline``
  has the relay download them into data URLs first (relay/media_inline.py).
* ``maxOutputTokens`` is always sent: the caller's limit, else the limit the reservation used,
  so a model whose own default is larger cannot generate more than was reserved.
* ``response_format`` json_object -> ``responseMimeType: application/json``; json_schema -> the
  same plus ``responseSchema`` (converted, see :mod:`.schema`). Native, no emulation needed.
* ``reasoning_effort`` -> ``thinkingConfig`` (budget, thoughts included as reasoning_content).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from relaygate.providers.anthropic.request import parse_data_url
from relaygate.providers.anthropic.tools import reject
from relaygate.providers.base import ChatRequest
from relaygate.providers.gemini.schema import has_properties, to_gemini

THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
SAFETY_CATEGORIES = ("HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_SEXUALLY_EXPLICIT",
                     "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_CIVIC_INTEGRITY")
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}
_EXT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
              "webp": "image/webp", "pdf": "application/pdf"}

FILES_API = "https://generativelanguage.googleapis.com/"  # .../v1beta/files/<id>

Part = dict[str, Any]


def build_body(req: ChatRequest, config: dict[str, Any]) -> dict[str, Any]:
    body = req.body
    system, contents = convert_messages(body["messages"])
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": t} for t in system]}
    out["generationConfig"] = generation_config(body, req)
    tools, tool_config = convert_tools(body)
    if tools:
        out["tools"] = tools
    if tool_config:
        out["toolConfig"] = tool_config
    threshold = config.get("safety_threshold")
    if isinstance(threshold, str) and threshold:
        out["safetySettings"] = [{"category": c, "threshold": threshold} for c in SAFETY_CATEGORIES]
    return out


def generation_config(body: dict[str, Any], req: ChatRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for src, dst in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("seed", "seed"),
                     ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        value = body.get(src)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[dst] = value
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or req.output_limit
    if isinstance(limit, int) and limit > 0:
        out["maxOutputTokens"] = limit
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in stop or () if isinstance(s, str)] \
        if isinstance(stop, list | None) else []
    if stops:
        out["stopSequences"] = stops
    if isinstance(body.get("n"), int) and body["n"] > 1:
        out["candidateCount"] = body["n"]
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in ("json_object", "json_schema"):
        out["responseMimeType"] = "application/json"
        spec = fmt.get("json_schema") if kind == "json_schema" else None  # type: ignore[union-attr]
        if isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
            out["responseSchema"] = to_gemini(spec["schema"])
    effort = body.get("reasoning_effort")
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is not None:
        out["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget > 0}
    return out


def convert_tools(body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    if body.get("tools"):
        if not isinstance(body["tools"], list):
            raise reject("tools must be an array of tools.")
        fns = []
        for i, tool in enumerate(body["tools"]):
            if not isinstance(tool, dict) or tool.get("type", "function") != "function":
                raise reject(f"tools[{i}]: only function tools can be sent to this model.")
            fns.append(tool.get("function"))
        choice = body.get("tool_choice")
    elif body.get("functions"):
        if not isinstance(body["functions"], list):
            raise reject("functions must be an array of functions.")
        fns = list(body["functions"])
        legacy = body.get("function_call")
        choice = {"type": "function", "function": legacy} if isinstance(legacy, dict) else legacy
    else:
        return [], None
    declarations = []
    for i, fn in enumerate(fns):
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise reject(f"tools[{i}]: a function with a name is required.")
        decl: dict[str, Any] = {"name": fn["name"]}
        if isinstance(fn.get("description"), str) and fn["description"]:
            decl["description"] = fn["description"]
        if has_properties(fn.get("parameters")):
            decl["parameters"] = to_gemini(fn["parameters"])
        declarations.append(decl)
    return [{"functionDeclarations": declarations}], _tool_config(choice)


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice in (None, "auto"):
        return None
    if choice == "none":
        return {"functionCallingConfig": {"mode": "NONE"}}
    if choice == "required":
        return {"functionCallingConfig": {"mode": "ANY"}}
    fn = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [fn["name"]]}}
    raise reject("tool_choice must be 'auto', 'none', 'required' or a named function.")


# --- messages -------------------------------------------------------------------------------


def convert_messages(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name
    for i, msg in enumerate(messages):
        role, content = msg["role"], msg.get("content")
        if role in ("system", "developer"):
            system.extend(p["text"] for p in _parts(content, i) if "text" in p)
            continue
        if role == "user":
            gemini_role, parts = "user", _parts(content, i)
        elif role == "assistant":
            gemini_role, parts = "model", _model_parts(msg, i, names)
        elif role in ("tool", "function"):
            call_id = msg.get("tool_call_id")
            name = names.get(call_id) if isinstance(call_id, str) else None
            name = name or msg.get("name")
            if not isinstance(name, str) or not name:
                raise reject(f"messages[{i}]: no earlier tool call has the id {call_id!r}.")
            gemini_role, parts = "user", [{"functionResponse": {"name": name, "response": _response(content)}}]
        else:
            raise reject(f"messages[{i}]: the role {role!r} is not supported by this model.")
        if not parts:
            continue
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    if not contents:
        raise reject("At least one user or assistant message is required.")
    return system, contents


def _parts(content: Any, i: int) -> list[Part]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if content is None:
        return []
    if not isinstance(content, list):
        raise reject(f"messages[{i}].content must be a string or an array of parts.")
    parts: list[Part] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        where = f"messages[{i}].content[{j}]"
        if kind in ("text", "refusal"):
            text = part.get("text") if kind == "text" else part.get("refusal")
            if isinstance(text, str) and text:
                parts.append({"text": text})
        elif kind == "image_url":
            image = part.get("image_url")
            parts.append(_media(image.get("url") if isinstance(image, dict) else image, where))
        elif kind == "input_audio":
            audio = part.get("input_audio") if isinstance(part.get("input_audio"), dict) else {}
            mime = _AUDIO_TYPES.get(str(audio.get("format")), "audio/wav")
            parts.append({"inlineData": {"mimeType": mime, "data": str(audio.get("data") or "")}})
        elif kind == "file":
            file = part.get("file") if isinstance(part.get("file"), dict) else {}
            if not isinstance(file.get("file_data"), str):
                raise reject(f"{where}: file parts need inline file_data (file ids are not supported).")
            parts.append(_media(file["file_data"], where))
        else:
            raise reject(f"{where}: unsupported content part type {kind!r}.")
    return parts


def _media(url: Any, where: str) -> Part:
    if not isinstance(url, str) or not url:
        raise reject(f"{where}: a URL is required.")
    if url.startswith("data:"):
        mime, data = parse_data_url(url, where)
        return {"inlineData": {"mimeType": mime, "data": data}}
    if gemini_file_uri(url):
        ext = url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
        return {"fileData": {"mimeType": _EXT_TYPES.get(ext, "image/jpeg"), "fileUri": url}}
    if url.startswith(("http://", "https://")):  # the relay inlines these; reached only if it did not
        raise reject(f"{where}: this model takes images inline; the image URL was not downloaded.")
    raise reject(f"{where}: the URL must be http(s), gs:// or a base64 data URL.")


def gemini_file_uri(url: str) -> bool:
    """A URI Gemini reads itself (``fileData``): Cloud Storage, or a file uploaded with the Files API."""
    return url.startswith((FILES_API, "gs://"))


def must_inline(url: str) -> bool:
    """An http(s) URL Gemini cannot read itself: its bytes must be sent as ``inlineData``."""
    return url.startswith(("http://", "https://")) and not gemini_file_uri(url)


def _model_parts(msg: dict[str, Any], i: int, names: dict[str, str]) -> list[Part]:
    parts = _parts(msg.get("content"), i)
    calls = [c for c in msg.get("tool_calls") or () if isinstance(c, dict)] \
        if isinstance(msg.get("tool_calls"), list | None) else []
    legacy = msg.get("function_call")
    for call in calls:
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        if not isinstance(fn.get("name"), str):
            raise reject(f"messages[{i}].tool_calls: each call needs a function name.")
        if isinstance(call.get("id"), str):
            names[call["id"]] = fn["name"]
        parts.append({"functionCall": {"name": fn["name"], "args": _args(fn.get("arguments"))}})
    if isinstance(legacy, dict) and isinstance(legacy.get("name"), str):
        parts.append({"functionCall": {"name": legacy["name"], "args": _args(legacy.get("arguments"))}})
    return parts


def _args(text: Any) -> dict[str, Any]:
    try:
        value = orjson.loads(text) if isinstance(text, str) and text else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def _response(content: Any) -> dict[str, Any]:
    """A functionResponse.response must be an object: JSON objects go as they are, else wrapped."""
    if isinstance(content, list):
        content = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    if isinstance(content, str):
        try:
            value = orjson.loads(content)
        except orjson.JSONDecodeError:
            value = content
    else:
        value = content
    return value if isinstance(value, dict) else {"content": value}


def model_path(model: str) -> str:
    """The model id as it goes in the URL (``models/x`` and ``x`` both accepted from operators)."""
    name = model[len("models/"):] if model.startswith("models/") else model
    return re.sub(r"[^A-Za-z0-9._-]", lambda m: f"%{ord(m.group()):02X}", name)
