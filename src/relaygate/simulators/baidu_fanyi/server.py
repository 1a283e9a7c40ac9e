"""aiohttp application of the fake Baidu Fanyi API (protocol notes translation.md §2).

``GET|POST /api/trans/vip/translate`` with ``q``, ``from``, ``to``, ``appid``, ``salt``, ``sign``
(query string or form). Errors come back with HTTP 200 and a string ``error_code``: 54000 missing
parameter, 52003 unknown appid, 54001 bad sign (``md5(appid + q + salt + secret)`` over the raw
``q``), 58001 unsupported direction, injected faults ``fail_code``. Each non-empty line of ``q`` is
translated on its own (:mod:`relaygate.simulators.deepl.lexicon`); empty lines give no result.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
from urllib.parse import parse_qs

from aiohttp import web

from relaygate.simulators.anthropic.runner import STATE, json_response, new_app
from relaygate.simulators.deepl.lexicon import detect, translate

from .knobs import Knobs
from .state import FanyiState

LANGS = ("zh", "en", "yue", "wyw", "jp", "kor", "fra", "spa", "th", "ara", "ru", "pt", "de", "it", "el", "nl", "pl",
         "bul", "est", "dan", "fin", "cs", "rom", "slo", "swe", "hu", "cht", "vie")
TO_UPPER = {"jp": "JA", "kor": "KO", "fra": "FR", "spa": "ES", "ara": "AR", "cht": "ZH-HANT", "vie": "VI"}
FROM_UPPER = {"JA": "jp", "KO": "kor", "ZH": "zh", "EN": "en"}
MESSAGES = {"54000": "PARAM_FROM_TO_OR_Q_EMPTY", "52003": "UNAUTHORIZED USER", "54001": "Invalid Sign",
            "58001": "INVALID_TO_PARAM", "54003": "Invalid Access Limit", "54004": "Insufficient Balance",
            "52001": "TIMEOUT", "52002": "SYSTEM ERROR", "58000": "CLIENT IP ILLEGAL"}


def create_app(state: FanyiState) -> web.Application:
    app = new_app(state)
    app.router.add_route("*", "/api/trans/vip/translate", _translate)
    return app


def _error(code: str) -> web.Response:
    return json_response(200, {"error_code": code, "error_msg": MESSAGES.get(code, "ERROR")})


async def _translate(request: web.Request) -> web.StreamResponse:
    state: FanyiState = request.app[STATE]  # type: ignore[assignment]
    knobs: Knobs = copy.copy(state.knobs)  # type: ignore[assignment]
    params = {k: v for k, v in request.query.items()}
    if request.method == "POST":
        form = parse_qs((await request.read()).decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: v[-1] for k, v in form.items()})
    q, src, dst = params.get("q", ""), params.get("from", ""), params.get("to", "")
    appid, salt, sign = params.get("appid", ""), params.get("salt", ""), params.get("sign", "")
    if not q or not src or not dst or not appid or not salt or not sign:
        return _error("54000")
    secret = state.apps.get(appid)
    if secret is None:
        return _error("52003")
    if hashlib.md5((appid + q + salt + secret).encode(), usedforsecurity=False).hexdigest() != sign.lower():
        return _error("54001")
    if dst not in LANGS or (src != "auto" and src not in LANGS) or dst == src:
        return _error("58001")
    if knobs.hang:
        await (state.stopping or asyncio.Event()).wait()
        return web.Response(status=503)
    if state.take_fault():
        return _error(str(knobs.fail_code))
    lines = [line for line in q.split("\n") if line.strip()]
    state.characters += len(q)
    target = TO_UPPER.get(dst, dst.upper())
    detected = src if src != "auto" else FROM_UPPER.get(detect(q), "en")
    return json_response(200, {"from": detected, "to": dst,
                               "trans_result": [{"src": line, "dst": translate(line, target)} for line in lines]})
