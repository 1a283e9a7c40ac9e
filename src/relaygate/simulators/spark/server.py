"""aiohttp application of the fake Spark WebSocket API (protocol notes §2-§5).

``GET /<version path>?authorization=&date=&host=`` is checked like iFlytek's gateway before the
upgrade: the ``authorization`` (base64 of ``api_key="...", algorithm="hmac-sha256", headers="host
date request-line", signature="..."``; one-api's ``hmac username="..."`` form too) must carry a
signature recomputed from the query's host and date and the request line, with the date within
``max_skew_s`` of the server's clock and the host the one the client connected to; refusals are
plain HTTP 401/403 with ``{"message": ...}``. After the upgrade: one request frame, the answer
frames (status 0, 1..., 2 with usage), then the server closes. Error frames carry
``header.code`` and no payload, then the server closes too.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from relaygate.simulators.anthropic.runner import STATE, abort, json_response, new_app, pause
from relaygate.simulators.openai import replies as words

from .knobs import Knobs
from .replies import DOMAINS, Answer, SparkError, plan, validate
from .state import SparkState

ERROR_MESSAGES = {10012: "EngineInternalError", 10013: "input content failed moderation",
                  10014: "output content failed moderation", 10907: "token count exceeds the limit",
                  11200: "licence error", 11201: "daily quota exceeded", 11202: "per-second rate exceeded",
                  11203: "concurrency exceeded", 10110: "service busy, retry later"}
BAD_SIGNATURE = "HMAC signature cannot be verified"
BAD_DATE = ("HMAC signature cannot be verified, a valid date or x-date header is required for HMAC "
            "Authentication")
MALFORMED = "HMAC signature does not conform"
_FIELD = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


def create_app(state: SparkState) -> web.Application:
    app = new_app(state)
    for path in DOMAINS:
        app.router.add_get(path, _chat)
    return app


def _refuse(state: SparkState, status: int, message: str) -> web.Response:
    state.handshakes_refused += 1
    return json_response(status, {"message": message})


def check_signature(request: web.Request, state: SparkState, knobs: Knobs) -> tuple[str, web.Response | None]:
    """(app_id, None) when the signed URL is good, else ("", the refusal)."""
    query = request.query
    encoded, date, host = query.get("authorization", ""), query.get("date", ""), query.get("host", "")
    if not encoded or not date or not host:
        return "", _refuse(state, 401, "Unauthorized")
    try:
        origin = base64.b64decode(encoded, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return "", _refuse(state, 403, MALFORMED)
    fields = dict(_FIELD.findall(origin))
    api_key = fields.get("api_key") or fields.get("username") or ""
    if fields.get("algorithm") != "hmac-sha256" or fields.get("headers") != "host date request-line" \
            or not fields.get("signature") or not api_key:
        return "", _refuse(state, 403, MALFORMED)
    try:
        signed_at = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return "", _refuse(state, 401, BAD_DATE)
    if abs(time.time() + knobs.clock_offset_s - signed_at) > knobs.max_skew_s:
        return "", _refuse(state, 401, BAD_DATE)
    app = state.credentials.get(api_key)
    if app is None or host != request.host:
        return "", _refuse(state, 401, BAD_SIGNATURE)
    line = f"host: {host}\ndate: {date}\nGET {request.path} HTTP/1.1"
    expected = base64.b64encode(hmac.new(app[1].encode(), line.encode(), hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected, fields["signature"]):
        return "", _refuse(state, 401, BAD_SIGNATURE)
    return app[0], None


async def _chat(request: web.Request) -> web.StreamResponse:
    state: SparkState = request.app[STATE]  # type: ignore[assignment]
    knobs: Knobs = copy.copy(state.knobs)  # type: ignore[assignment]
    app_id, refusal = check_signature(request, state, knobs)
    if refusal is not None:
        return refusal
    ws = web.WebSocketResponse(autoclose=True, autoping=True, max_msg_size=4 * 1024 * 1024)
    if not ws.can_prepare(request).ok:
        return json_response(426, {"message": "upgrade to WebSocket required"})
    await ws.prepare(request)
    session: dict[str, Any] = {"path": request.path, "frame": None, "frames_sent": 0, "closed_by": None,
                               "close_code": None}
    state.sessions.append(session)
    try:
        msg = await ws.receive(timeout=10)
    except TimeoutError:
        await _error_frame(ws, session, 10018, "no data: connection closed")
        return ws
    if msg.type != WSMsgType.TEXT:
        session["closed_by"] = "dropped" if msg.type != WSMsgType.CLOSE else "client"
        return ws
    try:
        frame = orjson.loads(msg.data)
    except orjson.JSONDecodeError:
        frame = None
    session["frame"] = frame
    try:
        frame = validate(frame, request.path, app_id)
    except SparkError as exc:
        await _error_frame(ws, session, exc.code, exc.message)
        return ws
    stopping = state.stopping or asyncio.Event()
    if knobs.hang:
        await _hang(ws, session, stopping)
        return ws
    if state.take_fault():
        await _error_frame(ws, session, knobs.fail_code, ERROR_MESSAGES.get(knobs.fail_code, "error"))
        return ws
    await _answer(request, ws, session, plan(frame, knobs.reply_words), knobs, stopping)
    return ws


async def _error_frame(ws: web.WebSocketResponse, session: dict[str, Any], code: int, message: str) -> None:
    await ws.send_str(orjson.dumps({"header": {"code": code, "message": message, "sid": "cht000err@dx0",
                                               "status": 2}}).decode())
    session["frames_sent"] += 1
    await _close(ws, session)


async def _close(ws: web.WebSocketResponse, session: dict[str, Any]) -> None:
    session["closed_by"] = session["closed_by"] or "server"
    with contextlib.suppress(Exception):
        await ws.close()
    session["close_code"] = session["close_code"] or ws.close_code


async def _hang(ws: web.WebSocketResponse, session: dict[str, Any], stopping: asyncio.Event) -> None:
    watcher = asyncio.ensure_future(_watch(ws, session))
    stop = asyncio.ensure_future(stopping.wait())
    await asyncio.wait([watcher, stop], return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    watcher.cancel()


async def _watch(ws: web.WebSocketResponse, session: dict[str, Any]) -> None:
    """Reads while answering, to see a client that closes (or vanishes) mid-answer."""
    msg = await ws.receive()
    if msg.type == WSMsgType.CLOSE:
        session["closed_by"] = "client"
        session["close_code"] = msg.data
    elif msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR):
        session["closed_by"] = session["closed_by"] or "dropped"


def _frames(answer: Answer, knobs: Knobs) -> list[dict[str, Any]]:
    items: list[dict[str, Any]]
    if answer.call is not None:
        chunks: list[list[dict[str, Any]]] = [[{"content": "", "role": "assistant", "index": 0,
                                               "content_type": "function_call", "function_call": answer.call}]]
    else:
        pieces = words.stream_pieces(answer.text)
        size = max(1, knobs.words_per_frame)
        texts = ["".join(pieces[i:i + size]) for i in range(0, len(pieces), size)] or [""]
        chunks = [[{"content": t, "role": "assistant", "index": 0}] for t in texts]
    frames = []
    for seq, items in enumerate(chunks):
        status = 2 if seq == len(chunks) - 1 else (0 if seq == 0 else 1)
        frame: dict[str, Any] = {"header": {"code": 0, "message": "Success", "sid": answer.sid, "status": status},
                                 "payload": {"choices": {"status": status, "seq": seq, "text": items}}}
        if status == 2:
            frame["payload"]["usage"] = {"text": answer.usage(knobs.usage_as_strings)}
        frames.append(frame)
    return frames


async def _answer(request: web.Request, ws: web.WebSocketResponse, session: dict[str, Any], answer: Answer,
                  knobs: Knobs, stopping: asyncio.Event) -> None:
    watcher = asyncio.ensure_future(_watch(ws, session))
    try:
        for position, frame in enumerate(_frames(answer, knobs)):
            if watcher.done():  # the client left: stop generating
                return
            if knobs.stream_cut_after is not None and position >= knobs.stream_cut_after:
                session["closed_by"] = "server-dropped"
                abort(request)
                return
            if knobs.moderation_after is not None and position >= knobs.moderation_after:
                await _error_frame(ws, session, 10014, ERROR_MESSAGES[10014])
                return
            if position and knobs.trickle_ms:
                await pause(knobs.trickle_ms, stopping)
                if stopping.is_set() or watcher.done():
                    return
            await ws.send_str(orjson.dumps(frame).decode())
            session["frames_sent"] += 1
        await _close(ws, session)
    except (ConnectionResetError, RuntimeError):
        session["closed_by"] = session["closed_by"] or "dropped"
    finally:
        if not watcher.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(watcher), 0.5)
        watcher.cancel()
