"""aiohttp application of the fake DeepL API v2 (protocol notes translation.md §1).

``POST /v2/translate`` (JSON, or a form with repeated ``text=``), ``GET /v2/usage``, ``GET
/v2/languages``. ``Authorization: DeepL-Auth-Key <key>``: missing or wrong -> 403 ``{"message":
...}``. Checks: ``text`` present (400 "Parameter 'text' not specified."), ``target_lang`` present and
supported, ``source_lang`` supported; a request that would pass ``character_limit`` -> 456 "Quota
exceeded"; injected faults -> ``fail_status`` (429, 500, 503, 529...). Translations are fake but
deterministic (:mod:`.lexicon`); ``billed_characters`` when ``show_billed_characters`` is true.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any
from urllib.parse import parse_qs

import orjson
from aiohttp import web

from relaygate.simulators.anthropic.runner import STATE, json_response, new_app

from .knobs import Knobs
from .lexicon import detect, translate
from .state import DeepLState

SOURCES = ("AR", "BG", "CS", "DA", "DE", "EL", "EN", "ES", "ET", "FI", "FR", "HU", "ID", "IT", "JA", "KO", "LT", "LV",
           "NB", "NL", "PL", "PT", "RO", "RU", "SK", "SL", "SV", "TR", "UK", "ZH")
TARGETS = (*[s for s in SOURCES if s not in ("EN", "PT")], "EN", "EN-GB", "EN-US", "PT", "PT-BR", "PT-PT", "ZH-HANS",
           "ZH-HANT")
NAMES = {"DE": "German", "EN": "English", "ES": "Spanish", "FR": "French", "JA": "Japanese", "KO": "Korean",
         "ZH": "Chinese", "RU": "Russian", "IT": "Italian", "PT": "Portuguese"}


def create_app(state: DeepLState) -> web.Application:
    app = new_app(state)
    app.router.add_post("/v2/translate", _translate)
    app.router.add_get("/v2/usage", _usage)
    app.router.add_get("/v2/languages", _languages)
    return app


def _message(status: int, message: str, detail: str | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if detail:
        body["detail"] = detail
    return json_response(status, body)


def _auth(request: web.Request, state: DeepLState) -> web.Response | None:
    header = request.headers.get("Authorization", "")
    key = header[len("DeepL-Auth-Key "):].strip() if header.startswith("DeepL-Auth-Key ") else ""
    if not key or not state.accepts_key(key):
        return _message(403, "Authorization failure, check auth_key")
    return None


async def _read(request: web.Request) -> dict[str, Any] | None:
    raw = await request.read()
    if request.content_type == "application/x-www-form-urlencoded":
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        body: dict[str, Any] = {k: v[-1] for k, v in form.items()}
        if "text" in form:
            body["text"] = form["text"]
        return body
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


async def _translate(request: web.Request) -> web.StreamResponse:
    state: DeepLState = request.app[STATE]  # type: ignore[assignment]
    knobs: Knobs = copy.copy(state.knobs)  # type: ignore[assignment]
    if (refusal := _auth(request, state)) is not None:
        return refusal
    if knobs.hang:
        await (state.stopping or asyncio.Event()).wait()
        return web.Response(status=503)
    if state.take_fault():
        return json_response(knobs.fail_status, knobs.fail_body or {"message": "Too many requests" if
                                                                     knobs.fail_status in (429, 529)
                                                                     else "Internal server error"})
    body = await _read(request)
    if body is None:
        return _message(400, "Invalid request: expected a JSON object or a form")
    texts = body.get("text")
    if isinstance(texts, str) or not texts or not isinstance(texts, list) \
            or not all(isinstance(t, str) for t in texts):
        return _message(400, "Parameter 'text' not specified.")
    target = body.get("target_lang")
    if not isinstance(target, str) or not target:
        return _message(400, "Parameter 'target_lang' not specified.")
    if target.upper() not in TARGETS:
        return _message(400, "Value for 'target_lang' not supported.")
    source = body.get("source_lang")
    if source is not None and (not isinstance(source, str) or source.upper() not in SOURCES):
        return _message(400, "Value for 'source_lang' not supported.")
    characters = sum(len(t) for t in texts)
    if state.character_count + characters > knobs.character_limit:
        return _message(456, "Quota exceeded")
    state.character_count += characters
    show = body.get("show_billed_characters") in (True, "1", "true")
    out = []
    for text in texts:
        item: dict[str, Any] = {"detected_source_language": source.upper() if source else detect(text),
                                "text": translate(text, target)}
        if show:
            item["billed_characters"] = len(text)
        out.append(item)
    return json_response(200, {"translations": out})


async def _usage(request: web.Request) -> web.Response:
    state: DeepLState = request.app[STATE]  # type: ignore[assignment]
    if (refusal := _auth(request, state)) is not None:
        return refusal
    return json_response(200, {"character_count": state.character_count,
                               "character_limit": state.knobs.character_limit})  # type: ignore[attr-defined]


async def _languages(request: web.Request) -> web.Response:
    state: DeepLState = request.app[STATE]  # type: ignore[assignment]
    if (refusal := _auth(request, state)) is not None:
        return refusal
    codes = TARGETS if request.query.get("type") == "target" else SOURCES
    return json_response(200, [{"language": c, "name": NAMES.get(c.split("-")[0], c)} for c in codes])
