"""OpenAI chat request -> Spark WebSocket URL and request frame (protocol notes §2, §4, §7).

Model -> (path, ``domain``) from :data:`VERSIONS` (the reseller names ``spark-v1.5`` ...
``spark-4.0-ultra`` and the product names ``spark-lite`` ... ``spark-max-32k``); other
``spark-vX.Y`` names follow one-api's rule (``/vX.Y/chat``, domain ``generalvX.Y``); channel config
``versions`` ({model: {"path", "domain"}}) covers anything else (fine-tuned models, MaaS hosts).

* Messages: text only; ``system`` kept where the domain takes it (3.5/Max, Max-32K, 4.0 Ultra),
  else prepended to the first user message; tool calls and results become plain text turns (the
  WebSocket API has no role for them).
* ``temperature`` -> (0, 1]; ``max_tokens`` -> [1, 4096] on Lite, [1, 8192] otherwise; ``user`` ->
  ``header.uid`` (32 chars); ``top_k`` (1..6) passes through.
* ``tools``/``functions`` -> ``payload.functions.text`` on the domains that support it; refused
  on the others, so a channel of another type can serve the request.
"""

from __future__ import annotations

import re
from typing import Any

from relaygate.providers.anthropic.tools import reject
from relaygate.providers.baidu.request import convert_functions, flatten
from relaygate.providers.base import ChatRequest

VERSIONS: dict[str, tuple[str, str]] = {
    "spark-v1.5": ("/v1.1/chat", "lite"), "spark-lite": ("/v1.1/chat", "lite"),
    "spark-v2.0": ("/v2.1/chat", "generalv2"),
    "spark-v3.0": ("/v3.1/chat", "generalv3"), "spark-pro": ("/v3.1/chat", "generalv3"),
    "spark-pro-128k": ("/chat/pro-128k", "pro-128k"),
    "spark-v3.5": ("/v3.5/chat", "generalv3.5"), "spark-max": ("/v3.5/chat", "generalv3.5"),
    "spark-max-32k": ("/chat/max-32k", "max-32k"),
    "spark-4.0-ultra": ("/v4.0/chat", "4.0Ultra"), "spark-v4.0": ("/v4.0/chat", "4.0Ultra"),
}
SYSTEM_DOMAINS = frozenset({"generalv3.5", "max-32k", "4.0Ultra"})
FUNCTION_DOMAINS = frozenset({"generalv3", "generalv3.5", "max-32k", "pro-128k", "4.0Ultra"})
_VERSION = re.compile(r"^spark-?(v\d+(?:\.\d+)?)$", re.IGNORECASE)


def version_of(model: str, config: dict[str, Any]) -> tuple[str, str]:
    custom = config.get("versions")
    entry = custom.get(model) if isinstance(custom, dict) else None
    if isinstance(entry, dict) and isinstance(entry.get("path"), str) and isinstance(entry.get("domain"), str):
        return entry["path"], entry["domain"]
    known = VERSIONS.get(model.lower())
    if known is not None:
        return known
    match = _VERSION.match(model)
    if match:
        version = match.group(1).lower()
        return f"/{version}/chat", f"general{version}"
    raise reject(f"The Spark model {model!r} is unknown: set the channel config 'versions' "
                 '({"<model>": {"path": "/v3.5/chat", "domain": "generalv3.5"}}).')


def ws_url(base_url: str, path: str) -> str:
    """The channel's http(s) base URL as a ws(s) URL (base URLs are http(s) everywhere else)."""
    if base_url.startswith("https://"):
        base_url = "wss://" + base_url[8:]
    elif base_url.startswith("http://"):
        base_url = "ws://" + base_url[7:]
    return base_url + path


def build_frame(req: ChatRequest, app_id: str, domain: str) -> dict[str, Any]:
    body = req.body
    chat: dict[str, Any] = {"domain": domain}
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        chat["temperature"] = min(max(float(temperature), 0.01), 1.0)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        chat["max_tokens"] = min(limit, 4096 if domain in ("lite", "general") else 8192)
    top_k = body.get("top_k")
    if isinstance(top_k, int) and not isinstance(top_k, bool) and 1 <= top_k <= 6:
        chat["top_k"] = top_k
    header: dict[str, Any] = {"app_id": app_id}
    if isinstance(body.get("user"), str) and body["user"]:
        header["uid"] = body["user"][:32]
    payload: dict[str, Any] = {"message": {"text": convert_messages(body["messages"], domain in SYSTEM_DOMAINS)}}
    functions = convert_functions(body)
    if functions:
        if domain not in FUNCTION_DOMAINS:
            raise reject(f"Function calling is not available on the Spark domain {domain!r}.")
        payload["functions"] = {"text": functions}
    return {"header": header, "parameter": {"chat": chat}, "payload": payload}


def convert_messages(messages: list[dict[str, Any]], keep_system: bool) -> list[dict[str, str]]:
    system: list[str] = []
    out: list[dict[str, str]] = []
    for i, msg in enumerate(messages):
        role = msg["role"]
        text = flatten(msg.get("content"), f"messages[{i}]")
        if role in ("system", "developer"):
            if text:
                system.append(text)
        elif role == "user":
            out.append({"role": "user", "content": text})
        elif role == "assistant":
            calls = [c.get("function") for c in msg.get("tool_calls") or () if isinstance(c, dict)]
            if isinstance(msg.get("function_call"), dict):
                calls.append(msg["function_call"])
            said = [text] if text else []
            said += [f"(called {c.get('name')} with {c.get('arguments')})" for c in calls if isinstance(c, dict)]
            if said:
                out.append({"role": "assistant", "content": "\n".join(said)})
        elif role in ("tool", "function"):
            out.append({"role": "user", "content": f"{msg.get('name') or 'the tool'} returned: {text}"})
        else:
            raise reject(f"messages[{i}]: the role {role!r} is not supported by this model.")
    if not out:
        raise reject("At least one user message is required.")
    if system:
        joined = "\n\n".join(system)
        if keep_system:
            out.insert(0, {"role": "system", "content": joined})
        else:
            first = next((m for m in out if m["role"] == "user"), out[0])
            first["content"] = f"{joined}\n\n{first['content']}"
    return out
