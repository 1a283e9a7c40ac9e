"""A DeepL ``/v2/translate`` request (JSON, or a form with repeated ``text=``) -> ChatRequest.

The job rides in ``ChatRequest.native``; the canonical body holds one user message per text, so
the chat pipeline's reservation counts what will be billed (characters, or tokens for a model
priced per token). Routing: the ``model`` field when given (a relaygate extension DeepL clients do
not send), else :data:`DEFAULT_MODEL` -- so any channel serving the model ``deepl`` (a ``deepl``
channel, or a ``baidu-fanyi`` channel listing ``deepl`` or mapping it) answers DeepL clients.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson

from relaygate.api.errors import bad_request
from relaygate.api.http import Scope, header
from relaygate.providers.base import ChatRequest, TranslationJob
from relaygate.providers.deepl.translator import OPTIONS
from relaygate.relay.validate import check_nesting

DEFAULT_MODEL = "deepl"
MAX_TEXTS = 50


def _form(raw: bytes) -> dict[str, Any]:
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise bad_request("The form is not valid UTF-8.") from None
    body: dict[str, Any] = {k: v[-1] for k, v in fields.items()}
    if "text" in fields:
        body["text"] = fields["text"]
    return body


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    check_nesting(body, raw)
    return body


def parse_translate(raw: bytes, scope: Scope) -> ChatRequest:
    if not raw:
        raise bad_request("Parameter 'text' not specified.", "text")
    ctype = (header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
    body = _form(raw) if ctype == "application/x-www-form-urlencoded" else _json(raw)
    texts = body.get("text")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise bad_request("Parameter 'text' not specified.", "text")
    if len(texts) > MAX_TEXTS:
        raise bad_request(f"Too many texts: at most {MAX_TEXTS} per request.", "text")
    target = body.get("target_lang")
    if not isinstance(target, str) or not target.strip():
        raise bad_request("Parameter 'target_lang' not specified.", "target_lang")
    source = body.get("source_lang")
    if source is not None and not isinstance(source, str):
        raise bad_request("Value for 'source_lang' not supported.", "source_lang")
    model = body.get("model") or DEFAULT_MODEL
    if not isinstance(model, str) or len(model) > 256:
        raise bad_request("Value for 'model' not supported.", "model")
    job = TranslationJob(texts=texts, target=target.strip(), source=source.strip() if source else None,
                         options={k: v for k, v in body.items() if k in OPTIONS})
    canonical = {"model": model, "messages": [{"role": "user", "content": t} for t in texts]}
    return ChatRequest(body=canonical, model=model, stream=False, wants_usage=False, native=job)
