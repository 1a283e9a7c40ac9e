"""``RecordedRequest``: one request as a simulated upstream saw it (shared by every simulator)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from . import multipart

DEFAULT_MAX_UPLOAD = 25 * 1024 * 1024


@dataclass(frozen=True)
class RecordedRequest:
    """One request (``headers`` names lower-cased; ``json`` None if not JSON).

    Multipart requests keep ``body`` empty and put the parsed form in ``form`` instead:
    ``{"fields": {name: value | [values]}, "files": [{"field", "filename", "content_type", "size",
    "sha256"}]}`` (plus ``"too_large": true, "bytes_read": n`` or ``"error": "..."`` when the body was
    over the upload limit or not parseable). ``form`` is None for every other request.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any | None
    form: dict[str, Any] | None = None

    @classmethod
    async def capture(cls, request: web.Request, max_upload_bytes: int = DEFAULT_MAX_UPLOAD) -> RecordedRequest:
        form: dict[str, Any] | None = None
        if multipart.is_multipart(request):
            body = b""
            result = await multipart.read_form(request, max_upload_bytes)
            if result.form is not None:
                form = result.form.summary()
            elif result.too_large:
                form = {"fields": {}, "files": [], "too_large": True, "bytes_read": result.bytes_read}
            else:
                form = {"fields": {}, "files": [], "error": result.error}
        else:
            body = await request.read()
        try:
            parsed = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        return cls(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            json=parsed,
            form=form,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form for ``GET /__sim/requests`` (body decoded as UTF-8 with replacement)."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body.decode("utf-8", errors="replace"),
            "json": self.json,
            "form": self.form,
        }
