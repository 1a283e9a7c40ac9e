"""GET /v1/models: the models this key may use, in OpenAI's list format."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from relaygate.api.errors import GatewayError
from relaygate.api.http import JSON_CT, Receive, Scope, Send, send_bytes
from relaygate.relay.context import new_request_id

if TYPE_CHECKING:
    from relaygate.relay.service import Relay


async def handle_models(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    rid = (b"x-request-id", new_request_id().encode())
    try:
        key, user = relay.authenticate(scope, relay.rt.snapshot)
    except GatewayError as err:
        await relay.send_error(send, err, rid)
        return
    body = relay.models_body(user.group, key.models, user.id)
    path = scope["path"]
    if path.startswith("/v1/models/"):
        name = path[len("/v1/models/"):]
        if f'"id":"{name}"'.encode() not in body or not name:
            await relay.send_error(send, GatewayError(
                404, f"The model `{name}` does not exist or you do not have access to it.",
                code="model_not_found", param="model"), rid)
            return
        body = orjson.dumps({"id": name, "object": "model", "created": 0, "owned_by": "relaygate"})
    await send_bytes(send, 200, body, [JSON_CT, rid])
