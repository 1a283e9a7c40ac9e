"""``multipart/form-data`` bodies read once, size-capped, parsed with aiohttp's ``MultipartReader``.

The request-recording middleware and the handlers both need the form, but an aiohttp body can be
read only once, so :func:`read_form` reads the raw bytes (stopping, then draining, once ``limit``
is passed), parses them from memory and caches the result on the request: later calls are free.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict

_CHUNK = 1 << 16


@dataclass(frozen=True)
class UploadedFile:
    field: str
    filename: str
    content_type: str
    data: bytes

    def summary(self) -> dict[str, Any]:
        return {"field": self.field, "filename": self.filename, "content_type": self.content_type,
                "size": len(self.data), "sha256": hashlib.sha256(self.data).hexdigest()}


@dataclass
class Form:
    """Parsed form: text fields in order (repeats kept) and uploaded files."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[UploadedFile] = field(default_factory=list)

    def get(self, name: str, default: str | None = None) -> str | None:
        """Last value of a text field (as most form parsers do), or ``default``."""
        values = self.getall(name)
        return values[-1] if values else default

    def getall(self, *names: str) -> list[str]:
        return [value for key, value in self.fields if key in names]

    def file(self, *names: str) -> UploadedFile | None:
        found = self.files_named(*names)
        return found[0] if found else None

    def files_named(self, *names: str) -> list[UploadedFile]:
        return [f for f in self.files if f.field in names]

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.fields) or any(f.field == name for f in self.files)

    def summary(self) -> dict[str, Any]:
        """What the request log keeps: every text field, and name/size/hash of each file (not its bytes)."""
        fields: dict[str, Any] = {}
        for key, value in self.fields:
            if key in fields:
                previous = fields[key]
                fields[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                fields[key] = value
        return {"fields": fields, "files": [f.summary() for f in self.files]}


@dataclass(frozen=True)
class FormResult:
    """Outcome of :func:`read_form`: a form, or why there is none (too large / not parseable)."""

    form: Form | None
    bytes_read: int
    too_large: bool = False
    error: str | None = None


_CACHE = web.RequestKey("relaygate_sim_form", FormResult)


def is_multipart(request: web.BaseRequest) -> bool:
    return request.content_type == "multipart/form-data"


async def read_form(request: web.BaseRequest, limit: int) -> FormResult:
    """Read and parse the multipart body once (cached on the request)."""
    cached = request.get(_CACHE)
    if isinstance(cached, FormResult):
        return cached
    result = await _read(request, limit)
    request[_CACHE] = result
    return result


async def _read(request: web.BaseRequest, limit: int) -> FormResult:
    buffer = bytearray()
    total = 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            await _drain(request)  # let the client finish sending so it can read our 413
            return FormResult(None, total, too_large=True)
        buffer.extend(chunk)
    try:
        form = await parse(request.headers.get("Content-Type", ""), bytes(buffer))
    except (ValueError, AssertionError, RuntimeError, KeyError, HttpProcessingError) as exc:  # bad part headers
        return FormResult(None, total, error=str(exc) or type(exc).__name__)
    return FormResult(form, total)


async def _drain(request: web.BaseRequest, cap: int = 1 << 30) -> None:
    drained = 0
    while drained < cap and (chunk := await request.content.read(_CHUNK)):
        drained += len(chunk)


async def parse(content_type: str, body: bytes) -> Form:
    """Parse a complete multipart body held in memory."""
    reader = MultipartReader(CIMultiDict({"Content-Type": content_type}), _BytesContent(body))
    form = Form()
    while True:
        part = await reader.next()
        if part is None:
            break
        if isinstance(part, MultipartReader):
            raise ValueError("nested multipart bodies are not supported")
        data = bytes(await part.read(decode=False))
        name = part.name or ""
        if part.filename is not None:
            ctype = part.headers.get("Content-Type", "application/octet-stream")
            form.files.append(UploadedFile(name, part.filename, ctype, data))
        else:
            form.fields.append((name, data.decode("utf-8", errors="replace")))
    return form


class _BytesContent:
    """The slice of ``aiohttp.StreamReader`` that ``MultipartReader`` uses, over a bytes object."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    async def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else min(len(self._data), self._pos + n)
        out = self._data[self._pos : end]
        self._pos = end
        return out

    async def readany(self) -> bytes:
        return await self.read()

    async def readline(self, *, max_line_length: int | None = None) -> bytes:
        idx = self._data.find(b"\n", self._pos)
        end = len(self._data) if idx < 0 else idx + 1
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def at_eof(self) -> bool:
        return self._pos >= len(self._data)

    def unread_data(self, data: bytes) -> None:
        self._pos -= len(data)  # always the tail of what was just read
