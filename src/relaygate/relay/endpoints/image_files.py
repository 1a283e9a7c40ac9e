"""Images the gateway generated itself (Stable Diffusion channels), served for ``response_format: "url"``.

Stored in ``<data dir>/images/`` under 128-bit random names and served without authentication at
``GET /v1/images/files/<name>.png``: the name is the capability, as with OpenAI's own signed image
URLs. Files older than ``image_retention_s`` are swept (at most once a minute, when images are saved).
Every worker shares the folder, so any of them serves any image.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from relaygate.api.errors import GatewayError
from relaygate.api.http import Receive, Scope, Send, header, send_bytes

if TYPE_CHECKING:
    from relaygate.relay.service import Relay

PREFIX = "/v1/images/files/"
_NAME = re.compile(r"^[0-9a-f]{32}\.png$")
SWEEP_EVERY_S = 60.0
_last_sweep = 0.0


def folder(relay: Relay) -> Path:
    return relay.rt.settings.data_dir / "images"


def public_base(relay: Relay, scope: Scope) -> str:
    configured = relay.rt.settings.public_url.rstrip("/")
    if configured:
        return configured
    host = header(scope, b"host") or "{}:{}".format(*(scope.get("server") or ("localhost", 80)))
    return f"{scope.get('scheme', 'http')}://{host}"


async def save(relay: Relay, scope: Scope, png: bytes) -> str:
    """Store one image; returns the URL that serves it."""
    name = secrets.token_hex(16) + ".png"
    await asyncio.to_thread(_write, folder(relay), name, png, relay.rt.settings.image_retention_s)
    return f"{public_base(relay, scope)}{PREFIX}{name}"


def _write(where: Path, name: str, data: bytes, retention_s: float) -> None:
    global _last_sweep
    where.mkdir(parents=True, exist_ok=True)
    partial = where / (name + ".part")
    partial.write_bytes(data)
    partial.rename(where / name)  # never serve half an image
    now = time.time()
    if now - _last_sweep >= SWEEP_EVERY_S:
        _last_sweep = now
        sweep(where, now - retention_s)


def sweep(where: Path, older_than: float) -> int:
    removed = 0
    for entry in os.scandir(where):
        try:
            if entry.is_file() and entry.stat().st_mtime < older_than:
                os.unlink(entry.path)
                removed += 1
        except OSError:  # another worker removed it first
            pass
    return removed


async def handle_image_file(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    name = scope["path"][len(PREFIX):]
    if scope["method"] != "GET":
        await relay.send_error(send, GatewayError(405, f"{scope['method']} is not allowed here; use GET.",
                                                  code="method_not_allowed"))
        return
    path = folder(relay) / name
    data = None
    if _NAME.match(name):
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError:
            data = None
    if data is None or time.time() - path.stat().st_mtime > relay.rt.settings.image_retention_s:
        await relay.send_error(send, GatewayError(404, "No such image (it may have expired).", code="not_found"))
        return
    await send_bytes(send, 200, data, [(b"content-type", b"image/png"), (b"cache-control", b"private, max-age=86400")])
