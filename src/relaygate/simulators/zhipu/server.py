"""aiohttp application of the fake Zhipu GLM v4 API (protocol notes zhipu.md §1-§2).

``POST /api/paas/v4/chat/completions``. ``Authorization`` holds a JWT (with or without
``Bearer``) or the plain ``<id>.<secret>`` key. A JWT must be HS256 with ``sign_type: SIGN``, its
``api_key`` a known id, its HMAC-SHA256 signature made with that id's secret, and ``exp`` (in
milliseconds) in the future: otherwise 401 with GLM's error body (1001 missing, 1002 invalid,
1003 expired, 1000 unknown key). The answer is OpenAI-shaped plus ``request_id``; GLM-4.5 answers
carry no ``object`` field, as the real ones. Streams are ``data:`` chunks whose last one has the
finish reason and usage, then ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import os
import time
from typing import Any

import orjson
from aiohttp import web

from relaygate.simulators.anthropic.runner import STATE, abort, json_response, new_app, pause
from relaygate.simulators.openai import replies, tokens

from .knobs import Knobs
from .state import ZhipuState

MESSAGES = {"1000": "身份验证失败。", "1001": "Header中未收到Authorization参数，无法进行身份验证。",
            "1002": "Authorization Token非法，请确认Authorization Token正确传递。",
            "1003": "Authorization Token已过期。", "1211": "模型不存在，请检查模型代码。",
            "1214": "参数非法，请检查文档。", "1302": "您当前使用该API的并发数过高，请降低并发。",
            "500": "服务内部错误，请稍后重试。"}


def create_app(state: ZhipuState) -> web.Application:
    app = new_app(state)
    app.router.add_post("/api/paas/v4/chat/completions", _chat)
    return app


def _error(status: int, code: str, message: str | None = None) -> web.Response:
    return json_response(status, {"error": {"code": code, "message": message or MESSAGES.get(code, "error")}})


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def check_auth(header: str, state: ZhipuState, knobs: Knobs) -> str | None:
    """None when the credential is good, else GLM's error code."""
    token = header[7:].strip() if header[:7].lower() == "bearer " else header.strip()
    if not token:
        return "1001"
    parts = token.split(".")
    if len(parts) == 2:
        if not knobs.accept_plain_keys:
            return "1002"
        state.plain_key_requests += 1
        return None if state.keys.get(parts[0]) == parts[1] else "1000"
    if len(parts) != 3:
        return "1002"
    try:
        head, payload = orjson.loads(_b64(parts[0])), orjson.loads(_b64(parts[1]))
    except (ValueError, orjson.JSONDecodeError):
        return "1002"
    if not isinstance(head, dict) or head.get("alg") != "HS256" or head.get("sign_type") != "SIGN" \
            or not isinstance(payload, dict):
        return "1002"
    secret = state.keys.get(str(payload.get("api_key")))
    if secret is None:
        return "1000"
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _b64(parts[2])):
            return "1002"
    except ValueError:
        return "1002"
    exp, stamp = payload.get("exp"), payload.get("timestamp")
    if not isinstance(exp, int) or not isinstance(stamp, int):
        return "1002"
    if exp <= int((time.time() + knobs.clock_offset_s) * 1000):  # also catches an exp written in seconds
        return "1003"
    state.jwts_seen.add(token)
    return None


async def _chat(request: web.Request) -> web.StreamResponse:
    state: ZhipuState = request.app[STATE]  # type: ignore[assignment]
    knobs: Knobs = copy.copy(state.knobs)  # type: ignore[assignment]
    code = check_auth(request.headers.get("Authorization", ""), state, knobs)
    if code is not None:
        return _error(401, code)
    stopping = state.stopping or asyncio.Event()
    if knobs.hang:
        await stopping.wait()
        return web.Response(status=503)
    if state.take_fault():
        if knobs.fail_body is not None:
            return json_response(knobs.fail_status, knobs.fail_body)
        return _error(knobs.fail_status, "1302" if knobs.fail_status == 429 else "500")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _error(400, "1214", "请求体不是合法的JSON。")
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages or any(
            not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool") for m in messages):
        return _error(400, "1214", "messages 参数非法。")
    model = body.get("model")
    if not isinstance(model, str) or not model.startswith(("glm-", "chatglm")) or not state.accepts_model(model):
        return _error(400, "1211")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 1):
        return _error(400, "1214", "temperature 取值范围为 [0, 1]。")
    text = replies.reply_text(replies.request_seed(messages), 0, knobs.reply_words)
    prompt = sum(tokens.count(replies.message_text(m)) + 3 for m in messages)
    usage = {"prompt_tokens": prompt, "completion_tokens": tokens.count(text),
             "total_tokens": prompt + tokens.count(text)}
    rid = f"{int(time.time() * 1000)}{os.urandom(6).hex()}"
    finish = "sensitive" if knobs.sensitive else "stop"
    head: dict[str, Any] = {"id": rid, "created": int(time.time()), "model": model}
    if not model.startswith("glm-4.5"):
        head["object"] = "chat.completion" if not body.get("stream") else "chat.completion.chunk"
    if body.get("stream") is True:
        return await _stream(request, head, text, finish, usage, knobs, stopping)
    return json_response(200, {**head, "request_id": rid, "choices": [
        {"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": text}}], "usage": usage})


async def _stream(request: web.Request, head: dict[str, Any], text: str, finish: str, usage: dict[str, int],
                  knobs: Knobs, stopping: asyncio.Event) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    pieces = replies.stream_pieces(text)
    for position, piece in enumerate(pieces):
        if knobs.stream_cut_after is not None and position >= knobs.stream_cut_after:
            abort(request)
            return response
        if position and knobs.trickle_ms:
            await pause(knobs.trickle_ms, stopping)
        last = position == len(pieces) - 1
        chunk: dict[str, Any] = {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}}]}
        if last:
            chunk["choices"][0]["finish_reason"] = finish
            chunk["usage"] = usage
        await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response
