"""``POST /v2/translate``: DeepL's API for tools that speak DeepL, billed per character.

Authentication is a relaygate key, sent as DeepL clients send theirs (``Authorization: DeepL-Auth-Key
<key>``) or as a Bearer token. Everything else is the chat pipeline with the DeepL inbound
protocol (:mod:`.inbound`): the usage record has endpoint ``translate`` and ``prompt_tokens`` =
characters translated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaygate.api.http import Receive, Scope, Send
from relaygate.relay.chat import run_chat

from .inbound import DEEPL_TRANSLATE

if TYPE_CHECKING:
    from relaygate.relay.service import Relay

_DEEPL_AUTH = b"deepl-auth-key "


def _bearer_scope(scope: Scope) -> Scope:
    """The same request with ``DeepL-Auth-Key <key>`` read as ``Bearer <key>``."""
    headers = scope["headers"]
    for i, (name, value) in enumerate(headers):
        if name == b"authorization" and value[:len(_DEEPL_AUTH)].lower() == _DEEPL_AUTH:
            rewritten = list(headers)
            rewritten[i] = (name, b"Bearer " + value[len(_DEEPL_AUTH):].strip())
            return {**scope, "headers": rewritten}
    return scope


async def handle_translate(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    await run_chat(relay, DEEPL_TRANSLATE, _bearer_scope(scope), receive, send)
