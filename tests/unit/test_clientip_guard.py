"""Client address behind proxies, and the brute-force guard."""

from __future__ import annotations

import pytest

from relaygate.relay.clientip import client_ip, parse_trusted
from relaygate.relay.guard import AuthGuard


def scope(peer: str, xff: list[str] | None = None) -> dict:
    return {"client": (peer, 1234), "headers": [(b"x-forwarded-for", v.encode()) for v in xff or []]}


TRUSTED = parse_trusted("10.0.0.0/8, 127.0.0.1")


@pytest.mark.parametrize(("peer", "xff", "expected"), [
    ("203.0.113.9", ["1.2.3.4"], "203.0.113.9"),           # untrusted peer: its header is ignored
    ("127.0.0.1", ["1.2.3.4"], "1.2.3.4"),                 # trusted proxy in front
    ("10.1.1.1", ["6.6.6.6, 1.2.3.4, 10.2.2.2"], "1.2.3.4"),  # spoofed left part skipped
    ("10.1.1.1", ["6.6.6.6", "1.2.3.4"], "1.2.3.4"),        # several header lines
    ("10.1.1.1", [], "10.1.1.1"),
    ("10.1.1.1", ["10.9.9.9"], "10.9.9.9"),                 # all trusted: the leftmost
])
def test_client_ip(peer: str, xff: list[str], expected: str) -> None:
    assert client_ip(scope(peer, xff), TRUSTED) == expected


def test_without_trusted_proxies_the_header_is_never_used() -> None:
    assert client_ip(scope("127.0.0.1", ["1.2.3.4"]), ()) == "127.0.0.1"


def test_parse_trusted_names_the_bad_entry() -> None:
    with pytest.raises(ValueError, match="not-an-ip"):
        parse_trusted("10.0.0.0/8, not-an-ip")


def test_guard_blocks_after_the_limit_and_only_that_address() -> None:
    guard = AuthGuard(3)
    for _ in range(2):
        guard.failed("1.1.1.1")
    assert guard.blocked_for("1.1.1.1") == 0
    guard.failed("1.1.1.1")
    assert 0 < guard.blocked_for("1.1.1.1") <= 60
    assert guard.blocked_for("2.2.2.2") == 0


def test_guard_disabled_with_zero() -> None:
    guard = AuthGuard(0)
    for _ in range(100):
        guard.failed("1.1.1.1")
    assert guard.blocked_for("1.1.1.1") == 0
