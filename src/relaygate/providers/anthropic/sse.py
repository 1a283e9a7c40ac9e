"""Splitting an upstream byte stream into complete SSE events, shared by the stream relays.

Upstream reads end anywhere; a relay only ever acts on whole events (``\\n\\n``-terminated,
``\\r\\n`` normalised) and keeps the rest for the next read.
"""

from __future__ import annotations


class EventBuffer:
    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def complete(self, data: bytes) -> list[bytes]:
        """The whole events available after ``data`` arrived (without their blank line)."""
        if self._rest:
            data = self._rest + data
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
            if data.endswith(b"\r"):  # a CRLF cut in two: keep the CR for the next read
                data, tail = data[:-1], b"\r"
            else:
                tail = b""
        else:
            tail = b""
        cut = data.rfind(b"\n\n")
        if cut < 0:
            self._rest = data + tail
            return []
        self._rest = data[cut + 2:] + tail
        return [e for e in data[:cut].split(b"\n\n") if e]

    @property
    def pending(self) -> bytes:
        return self._rest


def data_of(event: bytes) -> bytes | None:
    """The data payload of one SSE event (data lines joined), or None for comments/other fields."""
    lines = [ln[5:].lstrip(b" ") for ln in event.split(b"\n") if ln.startswith(b"data:")]
    if not lines:
        return None
    return lines[0] if len(lines) == 1 else b"\n".join(lines)


def event_name(event: bytes) -> bytes | None:
    for ln in event.split(b"\n"):
        if ln.startswith(b"event:"):
            return ln[6:].strip()
    return None
