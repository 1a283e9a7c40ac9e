"""Helpers every resource router uses: typed row lookup with a 404 in the error shape."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from relaygate.api.admin.errors import not_found
from relaygate.api.admin.schemas import ErrorBody
from relaygate.store import repos

M = TypeVar("M")


async def fetch_or_404(session: AsyncSession, model: type[M], ident: int, what: str) -> M:
    """Ids outside the int32 column range cannot exist (and PostgreSQL would reject the query)."""
    row = None
    if 1 <= ident <= repos.INT32_MAX:
        row = await session.get(model, ident)
    if row is None:
        raise not_found(what, ident)
    return row


RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "invalid request"},
    401: {"model": ErrorBody, "description": "missing or wrong admin key"},
    404: {"model": ErrorBody, "description": "unknown id"},
}
