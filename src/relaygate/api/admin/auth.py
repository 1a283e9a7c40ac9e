"""The admin dependency: a bearer token whose hash matches the configured admin key.

Only the hash is held in memory and compared (in constant time), so the admin key never sits
in a log or an error message, and a user API key can never match it.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from relaygate.api.admin.errors import ApiError
from relaygate.runtime import Runtime
from relaygate.state.snapshot import hash_key

_bearer = HTTPBearer(auto_error=False, description="the admin key", scheme_name="AdminKey")


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _unauthorised(message: str) -> ApiError:
    return ApiError(401, message, "authentication_error", "invalid_admin_key",
                    headers={"WWW-Authenticate": "Bearer"})


async def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    if credentials is None or not credentials.credentials:
        raise _unauthorised("missing admin key: send 'Authorization: Bearer <admin key>'")
    expected = get_runtime(request).admin_key_hash
    given = hash_key(credentials.credentials.strip())
    if not expected or not hmac.compare_digest(given, expected):
        raise _unauthorised("invalid admin key")


AdminRuntime = Annotated[Runtime, Depends(get_runtime)]
