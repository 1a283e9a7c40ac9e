"""The gateway's ASGI application: hot routes as plain ASGI, everything else to FastAPI.

The relay routes skip any framework (routing and request objects cost a large share of a
Python gateway's throughput); the management API and the console go through FastAPI, where
validation and OpenAPI docs are worth their cost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from relaygate.api.anthropic.errors import anthropic_error
from relaygate.api.anthropic.messages import handle_count_tokens, handle_messages
from relaygate.api.errors import GatewayError
from relaygate.api.http import JSON_CT, ClientGone, Receive, Scope, Send, send_bytes
from relaygate.api.translate.handler import handle_translate
from relaygate.api.translate.inbound import deepl_error_body, deepl_status
from relaygate.api.v1.models import handle_models
from relaygate.api.v1.openapi import handle_openapi
from relaygate.config import Settings
from relaygate.logs import setup_logging
from relaygate.relay.chat import handle_chat
from relaygate.relay.endpoints import audio, files, fine_tuning, image_files, images, text
from relaygate.relay.service import Relay
from relaygate.runtime import Runtime

log = logging.getLogger("relaygate")

Handler = Callable[[Relay, Scope, Receive, Send], Awaitable[None]]

HOT_ROUTES: dict[str, tuple[str, Handler]] = {
    "/v1/chat/completions": ("POST", handle_chat),
    "/v1/models": ("GET", handle_models),
    "/v1/openapi.json": ("GET", handle_openapi),  # this surface's description, no key needed
    "/v1/messages": ("POST", handle_messages),
    "/v1/messages/count_tokens": ("POST", handle_count_tokens),
    "/v2/translate": ("POST", handle_translate),  # DeepL-compatible, for tools that speak DeepL
    "/v1/completions": ("POST", text.handle_completions),
    "/v1/embeddings": ("POST", text.handle_embeddings),
    "/v1/moderations": ("POST", text.handle_moderations),
    "/v1/images/generations": ("POST", images.handle_generations),
    "/v1/images/edits": ("POST", images.handle_edits),
    "/v1/images/variations": ("POST", images.handle_variations),
    "/v1/audio/speech": ("POST", audio.handle_speech),
    "/v1/audio/transcriptions": ("POST", audio.handle_transcriptions),
    "/v1/audio/translations": ("POST", audio.handle_translations),
    "/v1/files": ("*", files.handle_files),  # GET lists, POST uploads
    "/v1/fine_tuning/jobs": ("*", fine_tuning.handle_jobs),  # GET lists, POST creates
}

# Paths that carry an id (/v1/files/{id}/content ...): the handler reads the rest of the path and
# checks the method itself. The first matching prefix wins.
PREFIX_ROUTES: tuple[tuple[str, Handler], ...] = (
    (image_files.PREFIX, image_files.handle_image_file),
    (files.PREFIX, files.handle_file),
    (fine_tuning.PREFIX, fine_tuning.handle_job),
)


class GatewayApp:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime: Runtime | None = None
        self.relay: Relay | None = None
        self.admin: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif self.admin is not None:
            await self.admin(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        route = HOT_ROUTES.get(path)
        if route is None and path.startswith("/v1/models/"):
            route = HOT_ROUTES["/v1/models"]
        if route is None:
            route = next((("*", h) for prefix, h in PREFIX_ROUTES if path.startswith(prefix)), None)
        if route is None:
            if path.startswith("/v1/") or path == "/v1":
                await _edge_error(send, GatewayError(404, f"Unknown endpoint: {scope['method']} {path}",
                                                       code="unknown_url"), path)
                return
            await self.admin(scope, receive, send)
            return
        method, handler = route
        if method != "*" and scope["method"] != method:
            await _edge_error(send, GatewayError(405, f"{scope['method']} is not allowed on {path}; "
                                                   f"use {method}.", code="method_not_allowed"), path)
            return
        assert self.relay is not None
        try:
            await handler(self.relay, scope, receive, send)
        except ClientGone:
            return
        except Exception:
            log.exception("unhandled error on %s", path)
            try:
                await _edge_error(send, GatewayError(500, "The gateway had an internal error.", "server_error",
                                                       "internal_error"), path)
            except Exception:  # the response had already started
                pass

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        from relaygate.api.admin.app import build_admin_app

        rt = self.runtime = Runtime(self.settings)
        self.relay = Relay(rt)
        await rt.start()
        self.relay.start()
        self.admin = build_admin_app(rt)

    async def shutdown(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
            log.info("usage records written: %d", self.runtime.recorder.written)


async def _edge_error(send: Send, err: GatewayError, path: str = "") -> None:
    """The caller's protocol decides the shape: Anthropic's under /v1/messages, OpenAI's elsewhere."""
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        status, body = anthropic_error(err)
        await send_bytes(send, status, body, [JSON_CT])
        return
    if path == "/v2/translate":  # DeepL's error shape for DeepL clients
        await send_bytes(send, deepl_status(err), deepl_error_body(err.message), [JSON_CT])
        return
    await send_bytes(send, err.status, err.openai_body(), [JSON_CT])


def create_app() -> GatewayApp:
    """Factory for the server (each worker process builds its own from the environment)."""
    settings = Settings.load()
    setup_logging(settings.log_level)
    return GatewayApp(settings)
