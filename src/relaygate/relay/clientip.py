"""The caller's address: the TCP peer, or X-Forwarded-For when the peer is a trusted proxy.

X-Forwarded-For is written by whoever sends the request, so it is believed only as far as the
chain of proxies the operator listed: walking it from the right, the first address that is not
a trusted proxy is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from relaygate.api.http import Scope
from relaygate.state.snapshot import IPNetwork


def parse_trusted(spec: str) -> tuple[IPNetwork, ...]:
    """'10.0.0.0/8, 127.0.0.1' -> networks; raises ValueError with the bad entry named."""
    nets = []
    for part in spec.split(","):
        part = part.strip()
        if part:
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or CIDR in trusted proxies: {part!r}") from None
    return tuple(nets)


def _trusted(ip: str, nets: Iterable[IPNetwork]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in nets)


def client_ip(scope: Scope, trusted: tuple[IPNetwork, ...]) -> str:
    client = scope.get("client")
    peer = client[0] if client else ""
    if not trusted or not _trusted(peer, trusted):
        return peer
    forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
    hops = [h.strip() for value in forwarded for h in value.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer
