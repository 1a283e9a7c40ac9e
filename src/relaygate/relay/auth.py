"""Who is calling: the relaygate key, its user, and whether they may use what they ask for."""

from __future__ import annotations

import ipaddress
import math
import time

from relaygate.api.errors import GatewayError
from relaygate.api.http import Scope
from relaygate.config import Settings
from relaygate.relay.clientip import client_ip, parse_trusted
from relaygate.relay.guard import AuthGuard
from relaygate.state.snapshot import KeyInfo, Snapshot, UserInfo, hash_key


def bearer_token(scope: Scope) -> str | None:
    """Authorization: Bearer (OpenAI SDKs), x-api-key (Anthropic SDKs) or api-key (Azure SDKs)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1").strip()
            if text[:7].lower() == "bearer ":
                return text[7:].strip() or None
            return text or None
        if name in (b"x-api-key", b"api-key"):
            return value.decode("latin-1").strip() or None
    return None


class Authenticator:
    """Key check plus what depends on the caller's address: allowlists and the guess guard."""

    def __init__(self, settings: Settings) -> None:
        self.trusted = parse_trusted(settings.trusted_proxies)
        self.guard = AuthGuard(settings.auth_failures_per_minute)

    def __call__(self, scope: Scope, snap: Snapshot) -> tuple[KeyInfo, UserInfo]:
        ip = client_ip(scope, self.trusted)
        wait = self.guard.blocked_for(ip)
        if wait:
            raise GatewayError(429, "Too many requests with invalid API keys from this address; try again later.",
                               "rate_limit_error", "too_many_auth_failures",
                               headers={"Retry-After": str(math.ceil(wait))})
        try:
            return authenticate(scope, snap, ip)
        except GatewayError as err:
            if err.code == "invalid_api_key" and bearer_token(scope):
                self.guard.failed(ip)  # a wrong key, not a missing one: that is what guessing looks like
            raise


def authenticate(scope: Scope, snap: Snapshot, ip: str) -> tuple[KeyInfo, UserInfo]:
    token = bearer_token(scope)
    if not token:
        raise GatewayError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer sk-...'.",
                           code="invalid_api_key")
    key = snap.keys_by_hash.get(hash_key(token))
    if key is None:
        raise GatewayError(401, f"Incorrect API key provided: {_mask(token)}.", code="invalid_api_key")
    if not key.enabled:
        raise GatewayError(401, "This API key has been disabled.", code="invalid_api_key")
    if key.expires_at is not None and key.expires_at <= time.time():
        raise GatewayError(401, "This API key has expired.", code="key_expired")
    user = snap.users.get(key.user_id)
    if user is None or not user.enabled:
        raise GatewayError(403, "The account behind this API key is disabled.", "permission_error",
                           "account_disabled")
    if key.allowed_nets is not None and not _ip_allowed(ip, key):
        raise GatewayError(403, f"Requests from {ip or 'this address'} are not allowed for this API key.",
                           "permission_error", "ip_not_allowed")
    return key, user


def check_model_allowed(key: KeyInfo, model: str) -> None:
    if key.models is not None and model not in key.models:
        raise GatewayError(403, f"This API key is not allowed to use the model `{model}`.",
                           "permission_error", "model_not_allowed", "model")


def _ip_allowed(ip: str, key: KeyInfo) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in key.allowed_nets or ())


def _mask(token: str) -> str:
    return (token[:3] + "*" * 8 + token[-4:]) if len(token) > 8 else "****"
