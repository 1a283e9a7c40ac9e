"""Relays an OpenAI SSE stream byte-for-byte, reading only what billing needs.

Each upstream read is forwarded as one write, cut at the last complete event so a caller never
sees half an event. Only events that may carry usage, an error or the terminator are parsed;
the rest are scanned with a substring test and passed on untouched.
"""

from __future__ import annotations

import orjson

from relaygate.providers.base import UpstreamError, Usage
from relaygate.providers.openai.usage import usage_from_openai

_DONE = b"data: [DONE]"
_ERROR = b'data: {"error"'
_USAGE, _USAGE_SPACED = b'"usage":{', b'"usage": {'
_NULL_USAGE = b',"usage":null'


class OpenAIStreamRelay:
    __slots__ = ("_events", "_rest", "done", "dropped", "error", "strip_usage", "usage")

    def __init__(self, strip_usage: bool) -> None:
        self.strip_usage = strip_usage
        self.usage: Usage | None = None
        self.done = False
        self.error: UpstreamError | None = None
        self.dropped = 0  # malformed events not passed on
        self._rest = b""
        self._events: list[bytes] = []  # forwarded bytes, parsed only if usage never arrives

    def feed(self, data: bytes) -> bytes:
        if (not self._rest and data[:7] == b"data: {" and data.find(b"\n") == len(data) - 2
                and data[-3:] == b"}\n\n" and data[:14] != _ERROR and _USAGE not in data
                and _USAGE_SPACED not in data):
            complete = data  # the usual read, one whole content chunk: no framing work, passed as it is
        else:
            complete = self._frame(data)
            if not complete:
                return b""
        if self.strip_usage and _NULL_USAGE in complete:
            complete = complete.replace(_NULL_USAGE, b"")
        self._events.append(complete)
        return complete

    def _frame(self, data: bytes) -> bytes:
        """Whole events only (the rest waits for the next read), with the ones that matter inspected."""
        if self._rest:
            data = self._rest + data
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        cut = data.rfind(b"\n\n")
        if cut < 0:
            self._rest = data
            return b""
        complete, self._rest = data[: cut + 2], data[cut + 2 :]
        start = _first_marked(complete)
        if start >= 0:  # under load one read holds many events: only those from the first marked one
            head = complete[:start]  # are looked at, the plain content chunks before it pass as they are
            if head and _plain_json_events(head):
                return head + self._inspect(complete[start:])
            return self._inspect(complete)
        if not _plain_json_events(complete):
            return self._inspect(complete)
        return complete

    def _inspect(self, complete: bytes) -> bytes:
        """Look at each event of a block that needs it; parse only the ones that may matter."""
        kept: list[bytes] = []
        for event in complete.split(b"\n\n"):
            if not event:
                continue
            payload = _data_of(event)
            if payload == b"[DONE]":
                self.done = True
            elif payload is not None and payload[:1] == b"{":
                if (payload[-1:] != b"}" or b"\n" in payload or b'"error"' in payload or _USAGE in payload
                        or _USAGE_SPACED in payload):  # a JSON payload over several data lines is rare: parse it
                    event = self._json_event(event, payload)  # plain content chunks pass unparsed
            elif payload is not None:
                self.dropped += 1  # not JSON: it would break the caller's SSE parser
                continue
            if event:
                kept.append(event)
        return b"\n\n".join(kept) + b"\n\n" if kept else b""

    def _json_event(self, event: bytes, payload: bytes) -> bytes:
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.dropped += 1
            return b""
        if not isinstance(obj, dict):
            return event
        err = obj.get("error")
        if isinstance(err, dict):
            self.error = UpstreamError(502, str(err.get("message") or "upstream error mid-stream"),
                                       str(err.get("type") or "upstream_error"),
                                       str(err["code"]) if err.get("code") is not None else None)
            return event
        usage = usage_from_openai(obj.get("usage"))
        if usage is None:
            return event
        self.usage = usage
        if not self.strip_usage:
            return event
        if not obj.get("choices"):
            return b""  # the usage-only chunk the caller did not ask for
        del obj["usage"]
        return b"data: " + orjson.dumps(obj)

    def completion_text(self) -> str:
        """The generated text relayed so far, for counting tokens when no usage arrived."""
        parts: list[str] = []
        for block in self._events:
            for event in block.split(b"\n\n"):
                payload = _data_of(event)
                if not payload or not payload.startswith(b"{"):
                    continue
                try:
                    obj = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    continue
                for choice in obj.get("choices") or ():
                    collect_delta(choice.get("delta") or choice, parts)
        return "".join(parts)


def collect_delta(delta: dict, parts: list[str]) -> None:
    for field in ("content", "reasoning_content", "text", "refusal"):
        value = delta.get(field)
        if isinstance(value, str):
            parts.append(value)
    for call in delta.get("tool_calls") or ():
        fn = call.get("function") or {}
        parts.append(str(fn.get("name") or ""))
        parts.append(str(fn.get("arguments") or ""))
    fn = delta.get("function_call")
    if isinstance(fn, dict):
        parts.append(str(fn.get("name") or ""))
        parts.append(str(fn.get("arguments") or ""))


def _first_marked(block: bytes) -> int:
    """Where the first event that may carry usage, an error or the terminator starts; -1 if none does."""
    first = -1
    for mark in (_DONE, _ERROR, _USAGE, _USAGE_SPACED):
        at = block.find(mark)
        if at >= 0 and (first < 0 or at < first):
            first = at
    if first < 0:
        return -1
    boundary = block.rfind(b"\n\n", 0, first)
    return boundary + 2 if boundary >= 0 else 0


def _plain_json_events(block: bytes) -> bool:
    """True when every event in the block looks like one whole JSON object (C-level counts only).

    Anything else (comments, other SSE fields, non-JSON or truncated data) takes the slow path,
    where each event is parsed and broken ones are dropped before they reach the caller.
    """
    events = block.count(b"\n\n")
    return block.count(b"data: {") == events == block.count(b"}\n\n") and block.count(b"data:") == events


def _data_of(event: bytes) -> bytes | None:
    """The data payload of one SSE event (data lines joined), or None for comments/other fields."""
    if event[:6] == b"data: " and b"\n" not in event:  # the usual one-line event
        return event[6:]
    lines = [ln[5:].lstrip(b" ") for ln in event.split(b"\n") if ln.startswith(b"data:")]
    if not lines:
        return None
    return lines[0] if len(lines) == 1 else b"\n".join(lines)
