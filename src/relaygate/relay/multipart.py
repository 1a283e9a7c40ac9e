"""``multipart/form-data`` uploads, parsed as they arrive and re-emitted to an upstream, never held whole.

:class:`MultipartParser` is an incremental parser: bytes in, events out (a part's raw headers, pieces
of its body, its end), whatever the chunking. :func:`read_form` drives it from the ASGI ``receive``
channel: text fields (small) are kept in memory, file parts are written to a spool (a temporary file
that stays in memory only while small), and the upload limit is checked as bytes arrive, so the
caller gets a 413 the moment the limit is passed and nothing more is stored.

The spool lets the form be sent again to the next channel when one fails, lets the gateway read the
fields that come after a file (``curl -F file=@x -F model=y`` puts the file first) before it picks a
channel, and gives audio endpoints the file's own header (WAV duration) before the reservation.
:meth:`Form.body` re-emits the parts in their order with their original headers, only the fields
the gateway rewrote (the model name) changed, as a stream of chunks of at most ``CHUNK`` bytes.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from relaygate.api.errors import GatewayError, bad_request
from relaygate.api.http import ClientGone, Receive, Scope, header

CHUNK = 64 * 1024
SPOOL_IN_MEMORY = 512 * 1024  # a spool moves to disk beyond this
FIELD_MAX = 1024 * 1024  # one text field
HEADERS_MAX = 16 * 1024  # one part's header block
MAX_PARTS = 1000

_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:\\.|[^"\\])*"|[^;]*)')


class MultipartError(ValueError):
    pass


class MultipartParser:
    """Incremental parser. ``feed`` returns events: ``("part", raw_headers)``, ``("data", bytes)``,
    ``("end", b"")`` after each part, and ``("done", b"")`` at the closing delimiter."""

    def __init__(self, boundary: bytes) -> None:
        if not boundary or len(boundary) > 200:
            raise MultipartError("invalid multipart boundary")
        self._delim = b"--" + boundary
        self._body_delim = b"\r\n" + self._delim
        self._buf = b""
        self._state = "preamble"
        self.finished = False

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        self._buf = self._buf + data if self._buf else data
        events: list[tuple[str, bytes]] = []
        while self._step(events):
            pass
        return events

    def _step(self, events: list[tuple[str, bytes]]) -> bool:
        buf = self._buf
        if self._state == "preamble":
            at = buf.find(self._delim)
            if at < 0:
                self._buf = buf[-(len(self._delim) - 1):]  # the preamble is ignored
                return False
            self._buf = buf[at + len(self._delim):]
            self._state = "after_delim"
            return True
        if self._state == "after_delim":
            if len(buf) < 2:
                return False
            if buf.startswith(b"--"):
                self._state, self.finished, self._buf = "epilogue", True, b""
                events.append(("done", b""))
                return False
            stripped = buf.lstrip(b" \t")
            if len(stripped) < 2:
                return False
            if not stripped.startswith(b"\r\n"):
                raise MultipartError("malformed multipart body: expected CRLF after a boundary")
            self._buf = stripped[2:]
            self._state = "headers"
            return True
        if self._state == "headers":
            if buf.startswith(b"\r\n"):
                head, self._buf = b"", buf[2:]
            else:
                at = buf.find(b"\r\n\r\n")
                if at < 0:
                    if len(buf) > HEADERS_MAX:
                        raise MultipartError("a multipart part's headers are too large")
                    return False
                head, self._buf = buf[:at], buf[at + 4:]
            events.append(("part", head))
            self._state = "body"
            return True
        if self._state == "body":
            at = buf.find(self._body_delim)
            if at < 0:
                keep = len(self._body_delim) - 1
                if len(buf) > keep:
                    events.append(("data", buf[:-keep]))
                    self._buf = buf[-keep:]
                return False
            if at:
                events.append(("data", buf[:at]))
            events.append(("end", b""))
            self._buf = buf[at + len(self._body_delim):]
            self._state = "after_delim"
            return True
        self._buf = b""  # epilogue: ignored
        return False


def parse_headers(raw: bytes) -> tuple[str, str | None, str | None]:
    """(field name, filename or None, content type or None) of a part."""
    name: str | None = None
    filename: str | None = None
    ctype: str | None = None
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "content-disposition":
            params = {k.lower(): _unquote(v) for k, v in _PARAM.findall(value)}
            name = params.get("name")
            filename = params.get("filename")
        elif key == "content-type":
            ctype = value.strip()
    if name is None:
        raise MultipartError("a multipart part has no Content-Disposition name")
    return name, filename, ctype


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


@dataclass(slots=True)
class Part:
    name: str
    headers: bytes  # as received, re-emitted unchanged
    filename: str | None = None
    content_type: str | None = None
    value: bytes = b""  # text fields
    offset: int = 0  # file parts: where the content starts in the spool
    size: int = 0

    @property
    def is_file(self) -> bool:
        return self.filename is not None

    def text(self) -> str:
        return self.value.decode("utf-8", "replace")


@dataclass
class Form:
    """A parsed upload: text fields in memory, file contents in ``spool``."""

    boundary: bytes
    parts: list[Part] = field(default_factory=list)
    spool: IO[bytes] | None = None
    total_bytes: int = 0  # the request body as received

    def get(self, name: str) -> str | None:
        """The last text value of a field (as most form parsers do)."""
        for part in reversed(self.parts):
            if part.name == name and not part.is_file:
                return part.text()
        return None

    def files(self, *names: str) -> list[Part]:
        return [p for p in self.parts if p.is_file and p.name in names]

    def has(self, name: str) -> bool:
        return any(p.name == name for p in self.parts)

    def set(self, name: str, value: str) -> None:
        """Rewrite a text field in place (its headers stay), e.g. the model for the channel; add it if absent."""
        found = False
        for part in self.parts:
            if part.name == name and not part.is_file:
                part.value = value.encode()
                found = True
        if not found:
            quoted = name.replace("\\", "\\\\").replace('"', '\\"')
            self.parts.insert(0, Part(name=name, headers=f'Content-Disposition: form-data; name="{quoted}"'.encode(),
                                      value=value.encode()))

    def remove(self, name: str) -> None:
        """Drop the text fields of this name (a gateway-only field the upstream must not see)."""
        self.parts = [p for p in self.parts if p.is_file or p.name != name]

    def head(self, part: Part, size: int) -> bytes:
        """The first ``size`` bytes of a file part (file signatures, WAV headers)."""
        assert self.spool is not None
        self.spool.seek(part.offset)
        return self.spool.read(min(size, part.size))

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary.decode('latin-1')}"

    def _framing(self, part: Part) -> bytes:
        start = b"--" + self.boundary + b"\r\n"
        return start + (part.headers + b"\r\n\r\n" if part.headers else b"\r\n")

    def size(self) -> int:
        """Length of :meth:`body`, for the upstream's Content-Length."""
        total = len(self.boundary) + 6
        for part in self.parts:
            total += len(self._framing(part)) + (part.size if part.is_file else len(part.value)) + 2
        return total

    async def body(self) -> AsyncIterator[bytes]:
        """The form again, part by part; file contents read from the spool in ``CHUNK`` pieces."""
        for part in self.parts:
            if not part.is_file:
                yield self._framing(part) + part.value + b"\r\n"
                continue
            yield self._framing(part)
            assert self.spool is not None
            left, position = part.size, part.offset
            while left > 0:
                self.spool.seek(position)
                piece = self.spool.read(min(CHUNK, left))
                if not piece:
                    raise OSError("the upload spool ended early")
                position += len(piece)
                left -= len(piece)
                yield piece
            yield b"\r\n"
        yield b"--" + self.boundary + b"--\r\n"

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None


def boundary_of(content_type: str | None) -> bytes:
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise bad_request("This endpoint expects a multipart/form-data body.", code="invalid_content_type")
    params = {k.lower(): _unquote(v) for k, v in _PARAM.findall(content_type)}
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise bad_request("The multipart/form-data body has no valid boundary.", code="invalid_content_type")
    return boundary.encode("latin-1", "replace")


def too_large(limit: int) -> GatewayError:
    return GatewayError(413, f"The upload exceeds the limit of {limit} bytes.", "invalid_request_error",
                        "request_too_large")


async def read_form(scope: Scope, receive: Receive, limit: int, spool_dir: Path | None = None) -> Form:
    """Read a whole multipart request into a :class:`Form`, holding at most a chunk of a file in memory.

    Raises a 413 as soon as more than ``limit`` bytes arrived (or were announced), a 400 when the body
    is not well-formed multipart, and :class:`ClientGone` when the caller leaves.
    """
    form = Form(boundary_of(header(scope, b"content-type")))
    declared = header(scope, b"content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise too_large(limit)
    parser = MultipartParser(form.boundary)
    current: Part | None = None
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            if chunk:
                form.total_bytes += len(chunk)
                if form.total_bytes > limit:
                    raise too_large(limit)
                for kind, data in parser.feed(chunk):
                    current = _apply(form, current, kind, data, spool_dir)
            if not message.get("more_body", False):
                break
        if not parser.finished:
            raise MultipartError("the multipart body ended before its closing boundary")
    except MultipartError as exc:
        form.close()
        raise bad_request(f"Malformed multipart/form-data body: {exc}.", code="invalid_multipart") from None
    except BaseException:
        form.close()
        raise
    return form


def _apply(form: Form, current: Part | None, kind: str, data: bytes, spool_dir: Path | None) -> Part | None:
    if kind == "part":
        if len(form.parts) >= MAX_PARTS:
            raise MultipartError(f"more than {MAX_PARTS} parts")
        name, filename, ctype = parse_headers(data)
        part = Part(name=name, headers=data, filename=filename, content_type=ctype)
        if part.is_file:
            if form.spool is None:
                if spool_dir is not None:
                    spool_dir.mkdir(parents=True, exist_ok=True)
                form.spool = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=spool_dir)  # noqa: SIM115
            form.spool.seek(0, 2)
            part.offset = form.spool.tell()
        form.parts.append(part)
        return part
    if kind == "data" and current is not None:
        if current.is_file:
            assert form.spool is not None
            form.spool.write(data)
            current.size += len(data)
        else:
            if len(current.value) + len(data) > FIELD_MAX:
                raise MultipartError(f"the field {current.name!r} is longer than {FIELD_MAX} bytes")
            current.value += data
        return current
    return None if kind in ("end", "done") else current
