"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: the Anthropic-format entry.

Authentication is the gateway's own (a relaygate key in ``x-api-key`` or ``Authorization:
Bearer``); ``anthropic-version`` is accepted, forwarded to Anthropic upstreams and otherwise not
required, so plain curl works too. Messages run through the one chat pipeline with the
Anthropic inbound protocol. Counting tokens is free, as at Anthropic: it asks the first usable
``anthropic`` channel serving the model (exact numbers), and otherwise counts locally.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import aiohttp
import orjson

from relaygate.api.anthropic.errors import anthropic_error
from relaygate.api.anthropic.inbound import ANTHROPIC_MESSAGES, NATIVE_TYPE
from relaygate.api.anthropic.request import parse_messages
from relaygate.api.errors import GatewayError
from relaygate.api.http import JSON_CT, Receive, Scope, Send, read_body, send_bytes
from relaygate.billing.estimate import count_prompt_tokens
from relaygate.providers.anthropic.adapter import endpoint, headers
from relaygate.providers.anthropic.errors import native_error
from relaygate.relay.auth import check_model_allowed
from relaygate.relay.chat import run_chat
from relaygate.relay.context import new_request_id
from relaygate.relay.router import candidates
from relaygate.relay.upstream import timeout_for

if TYPE_CHECKING:
    from relaygate.providers.base import ChatRequest
    from relaygate.relay.service import Relay
    from relaygate.state.snapshot import ChannelInfo

log = logging.getLogger("relaygate.relay")


async def handle_messages(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    await run_chat(relay, ANTHROPIC_MESSAGES, scope, receive, send)


async def handle_count_tokens(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    rid = (b"x-request-id", new_request_id().encode())
    try:
        key, user = relay.authenticate(scope, relay.rt.snapshot)
        req = parse_messages(await read_body(scope, receive, relay.rt.settings.max_body_bytes), scope,
                             count_only=True)
        check_model_allowed(key, req.model)
        channels = relay.rt.snapshot.routes.get((user.group, req.model))
        if not channels:
            raise GatewayError(404, f"model: {req.model}", "not_found_error", "model_not_found")
        answer = await _upstream_count(relay, req, channels)
        body = answer or orjson.dumps({"input_tokens": count_prompt_tokens(req.body, req.model)})
    except GatewayError as err:
        status, body = anthropic_error(err)
        await send_bytes(send, status, body, [JSON_CT, rid])
        return
    await send_bytes(send, 200, body, [JSON_CT, rid])


async def _upstream_count(relay: Relay, req: ChatRequest, channels: tuple[ChannelInfo, ...]) -> bytes | None:
    """Anthropic's own count through the first usable anthropic channel; None to count locally."""
    ch = next((c for c in candidates(channels, relay.health.down) if c.type == NATIVE_TYPE), None)
    if ch is None:
        return None
    native = req.native
    body = {k: v for k, v in native.body.items() if k not in ("max_tokens", "stream", "stop_sequences",
                                                               "temperature", "top_p", "top_k", "metadata")}
    body["model"] = ch.upstream_model(req.model)
    try:
        async with relay.client.post(endpoint(ch, "/messages/count_tokens"), data=orjson.dumps(body),
                                     headers=headers(ch, ch.next_key(), native.version, native.beta),
                                     timeout=timeout_for(relay.rt.settings, ch.timeout_s, False)) as resp:
            raw = await resp.read()
            if resp.status == 200:
                return raw
            if resp.status == 400:  # the caller's request is wrong: say so, in Anthropic's words
                err = native_error(resp.status, raw)
                raise GatewayError(400, err.message, err.type)
            log.info("count_tokens on channel %s answered %s; counting locally", ch.id, resp.status)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        log.info("count_tokens on channel %s failed (%s); counting locally", ch.id, type(exc).__name__)
    return None
