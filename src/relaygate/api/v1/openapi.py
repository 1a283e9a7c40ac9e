"""GET /v1/openapi.json: the OpenAPI description of the /v1 relay surface, without authentication.

The hot routes are plain ASGI, so nothing generates their description: it is kept by hand in
``api/openapi_v1.yaml`` next to the handlers it describes, and the fuzz tests (tests/fuzz) hold the
gateway to it. It is read and turned into JSON once per process, on first request.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import TYPE_CHECKING

import orjson
import yaml

from relaygate.api.http import JSON_CT, Receive, Scope, Send, send_bytes

if TYPE_CHECKING:
    from relaygate.relay.service import Relay


@functools.cache
def openapi_v1() -> bytes:
    text = resources.files("relaygate.api").joinpath("openapi_v1.yaml").read_text(encoding="utf-8")
    return orjson.dumps(yaml.safe_load(text))


async def handle_openapi(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    await send_bytes(send, 200, openapi_v1(), [JSON_CT, (b"cache-control", b"public, max-age=3600")])
