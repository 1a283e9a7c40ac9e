"""Which addresses the gateway may fetch caller-supplied URLs from (SSRF defence).

A caller who can make the gateway download ``http://169.254.169.254/...`` or ``http://10.0.0.5/admin``
reads the cloud metadata service or the operator's internal network. So every host is vetted on
the *address actually connected to*: names are resolved here, every resolved address must pass
(one bad address refuses the host: a name that resolves to both public and private addresses is
an attack), and the connection is made to exactly those vetted addresses through
:class:`VettedResolver`, which leaves no window for DNS rebinding between the check and the connect.

IP literals never reach a resolver in aiohttp, so :func:`vet_host` checks them itself, and refuses
the legacy numeric spellings (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``) that the C
library would quietly turn into an address. IPv6 forms that embed an IPv4 address (mapped,
compatible, NAT64, 6to4) are judged by the embedded address too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class MediaFetchError(Exception):
    """A URL the gateway will not or could not fetch; the message is the reason, for the caller."""


class BlockedAddress(MediaFetchError):
    """The host is, or resolves to, an address outside what the policy allows."""


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# Never fetched, whatever the settings say (a listed CIDR in allow_hosts excepted for the last two).
_ALWAYS: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    ("an unspecified address", _nets("0.0.0.0/8", "::/128")),
    ("a multicast address", _nets("224.0.0.0/4", "ff00::/8")),
    ("a reserved address", _nets("240.0.0.0/4", "100::/64", "2001:db8::/32", "192.0.2.0/24",
                                 "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15", "192.0.0.0/24",
                                 "192.88.99.0/24", "2001::/23", "fec0::/10")),
)
_METADATA = ("the cloud metadata address", _nets("169.254.169.254/32", "fd00:ec2::254/128"))
# Fetched only with media_fetch_allow_private (or when listed in media_fetch_allow_hosts).
_PRIVATE: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    ("a loopback address", _nets("127.0.0.0/8", "::1/128")),
    ("a private address", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
    ("a link-local address", _nets("169.254.0.0/16", "fe80::/10")),
    ("a carrier-grade NAT address", _nets("100.64.0.0/10")),
    ("a unique-local address", _nets("fc00::/7")),
)
_NAT64 = _nets("64:ff9b::/96", "64:ff9b:1::/48")


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and would reach through a translator, if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    packed = int(ip)
    if packed >> 32 == 0 and packed > 1:  # IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks)
        return ipaddress.IPv4Address(packed)
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """What may be fetched: public unicast addresses, plus the operator's exceptions."""

    allow_private: bool = False  # loopback, RFC 1918, link-local, CGNAT, ULA (not metadata, not multicast)
    allow_nets: tuple[IPNetwork, ...] = ()  # exempted whatever they are
    allow_names: frozenset[str] = field(default_factory=frozenset)  # host names fetched unvetted

    @classmethod
    def parse(cls, allow_private: bool, allow_hosts: str) -> AddressPolicy:
        """``allow_hosts``: comma-separated CIDRs, addresses or host names (case-insensitive)."""
        nets: list[IPNetwork] = []
        names: set[str] = set()
        for item in (s.strip() for s in allow_hosts.split(",")):
            if not item:
                continue
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                names.add(item.lower().rstrip("."))
        return cls(allow_private, tuple(nets), frozenset(names))

    def refusal(self, ip: IPAddress) -> str | None:
        """Why the address may not be fetched from, or None when it may."""
        if ip.version == 6 and ip.scope_id:  # type: ignore[union-attr]
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        if any(ip in net for net in self.allow_nets):
            return None
        inner = embedded_ipv4(ip)
        if inner is not None:
            why = self.refusal(inner)
            return f"{why} (inside an IPv6 address)" if why else None
        for why, nets in _ALWAYS:
            if any(ip in net for net in nets):
                return why
        if any(ip in net for net in _METADATA[1]):
            return _METADATA[0]
        for why, nets in _PRIVATE:
            if any(ip in net for net in nets):
                return None if self.allow_private else why
        if not ip.is_global:  # anything else the registries set aside (benchmarking, IETF, ...)
            return None if self.allow_private else "a non-public address"
        return None

    def check(self, ip: IPAddress) -> None:
        why = self.refusal(ip)
        if why is not None:
            raise BlockedAddress(f"the host is {why}, which this gateway does not fetch from")


_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_CANONICAL_V4 = re.compile(rf"^{_OCTET}(\.{_OCTET}){{3}}$")


def literal_address(host: str) -> IPAddress | None:
    """The address a host names directly, None for a DNS name; odd numeric spellings are refused.

    A name whose last label is numeric is no DNS name (no top-level domain is numeric) but one of
    the inet_aton spellings, which would reach the address it encodes: only dotted-quad decimal
    without leading zeros is taken as IPv4.
    """
    host = host.strip("[]").rstrip(".").lower()
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise MediaFetchError("the URL's host is not a valid address") from exc
    if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
        if not _CANONICAL_V4.match(host):
            raise BlockedAddress("the URL's host is an IP address in an unusual spelling; use dotted decimal")
        return ipaddress.IPv4Address(host)
    return None


def vet_host(policy: AddressPolicy, host: str) -> None:
    """Check a URL's host as written: literals here, names when they are resolved."""
    ip = literal_address(host)
    if ip is not None:
        policy.check(ip)


Resolve = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    """The system resolver (getaddrinfo in a thread), addresses only."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class VettedResolver(AbstractResolver):
    """aiohttp's resolver hook: resolve, vet every address, and hand back only vetted ones.

    The connector connects to what this returns (the Host header and TLS SNI keep the name), so
    the address checked is the address used. ``resolve`` is injectable for tests.
    """

    def __init__(self, policy: AddressPolicy, resolve: Resolve = system_resolve) -> None:
        self.policy = policy
        self._resolve = resolve

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        name = host.rstrip(".").lower()
        literal = literal_address(name)
        if literal is not None:
            addresses: Iterable[str] = [str(literal)]
        else:
            try:
                addresses = await self._resolve(host, port)
            except OSError as exc:
                raise MediaFetchError("the URL's host name could not be resolved") from exc
        results: list[ResolveResult] = []
        for text in dict.fromkeys(addresses):
            ip = ipaddress.ip_address(text.split("%", 1)[0])
            if name not in self.policy.allow_names:
                self.policy.check(ip)
            results.append(_result(host, str(ip), port))
        if not results:
            raise MediaFetchError("the URL's host name has no address")
        return results

    async def close(self) -> None:
        return None


def _result(host: str, address: str, port: int) -> Any:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return {"hostname": host, "host": address, "port": port, "family": family,
            "proto": socket.IPPROTO_TCP, "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV}
