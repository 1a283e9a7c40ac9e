"""Address vetting for image URLs the gateway downloads (SSRF): ranges, IPv6 forms, spellings, DNS."""

from __future__ import annotations

import ipaddress

import pytest

from relaygate.relay.media_guard import (
    AddressPolicy,
    BlockedAddress,
    MediaFetchError,
    VettedResolver,
    literal_address,
    vet_host,
)

STRICT = AddressPolicy()
LENIENT = AddressPolicy(allow_private=True)

BLOCKED = {
    "127.0.0.1": "loopback", "127.255.255.254": "loopback", "::1": "loopback",
    "10.0.0.1": "private", "172.16.5.4": "private", "172.31.255.255": "private", "192.168.1.1": "private",
    "169.254.1.1": "link-local", "fe80::1": "link-local", "fe80::1%2": "link-local",
    "169.254.169.254": "metadata", "fd00:ec2::254": "metadata",
    "fc00::1": "unique-local", "fd12:3456::1": "unique-local",
    "100.64.0.1": "carrier-grade NAT", "100.127.255.254": "carrier-grade NAT",
    "224.0.0.1": "multicast", "239.255.255.250": "multicast", "ff02::1": "multicast",
    "0.0.0.0": "unspecified", "0.1.2.3": "unspecified", "::": "unspecified",
    "240.0.0.1": "reserved", "255.255.255.255": "reserved", "192.0.2.10": "reserved", "2001:db8::1": "reserved",
    "198.18.0.1": "reserved", "fec0::1": "reserved",
    # IPv4 inside IPv6: mapped, compatible, NAT64, 6to4
    "::ffff:127.0.0.1": "loopback", "::ffff:7f00:1": "loopback", "::ffff:169.254.169.254": "metadata",
    "::ffff:10.1.2.3": "private", "::127.0.0.1": "loopback", "::10.0.0.1": "private",
    "64:ff9b::a9fe:a9fe": "metadata", "64:ff9b::10.0.0.1": "private", "2002:7f00:1::": "loopback",
    "2002:c0a8:101::1": "private", "::ffff:0.0.0.0": "unspecified",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "100.63.255.255", "100.128.0.0", "172.32.0.1", "2606:4700::1111",
          "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize(("address", "kind"), sorted(BLOCKED.items()))
def test_blocked_ranges(address: str, kind: str) -> None:
    why = STRICT.refusal(ipaddress.ip_address(address))
    assert why is not None and kind in why
    with pytest.raises(BlockedAddress):
        vet_host(STRICT, address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert STRICT.refusal(ipaddress.ip_address(address)) is None
    vet_host(STRICT, address)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "192.168.0.7", "::1", "fe80::1", "fd00::1",
                                     "100.64.0.1", "::ffff:127.0.0.1", "169.254.1.1"])
def test_allow_private_lifts_the_private_ranges(address: str) -> None:
    assert LENIENT.refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254", "0.0.0.0", "::",
                                     "224.0.0.1", "ff02::1", "255.255.255.255"])
def test_allow_private_never_lifts_metadata_multicast_or_unspecified(address: str) -> None:
    assert LENIENT.refusal(ipaddress.ip_address(address)) is not None


def test_allow_hosts_exempts_listed_networks_only() -> None:
    policy = AddressPolicy.parse(False, "10.1.0.0/16, 192.168.9.9 ,images.internal.")
    assert policy.refusal(ipaddress.ip_address("10.1.2.3")) is None
    assert policy.refusal(ipaddress.ip_address("192.168.9.9")) is None
    assert policy.refusal(ipaddress.ip_address("10.2.0.1")) is not None
    assert policy.allow_names == frozenset({"images.internal"})
    metadata = AddressPolicy.parse(False, "169.254.169.254")  # an operator may, explicitly
    assert metadata.refusal(ipaddress.ip_address("169.254.169.254")) is None


@pytest.mark.parametrize("host", ["2130706433", "017700000001", "0x7f000001", "0x7f.1", "0x7f.0.0.1", "127.1",
                                  "127.0.1", "0177.0.0.1", "127.000.000.001", "010.0.0.1", "1.2.3.4.5", "8.8.8.010",
                                  "134744072", "0x08080808", "[::ffff:127.0.0.1]"])
def test_odd_spellings_are_refused(host: str) -> None:
    with pytest.raises(BlockedAddress):
        vet_host(STRICT, host)


@pytest.mark.parametrize("host", ["example.com", "images.example.com.", "a1.b2", "0x.example", "1password.com",
                                  "xn--bcher-kva.example"])
def test_names_are_left_to_the_resolver(host: str) -> None:
    assert literal_address(host) is None


def test_invalid_ipv6_literal() -> None:
    with pytest.raises(MediaFetchError):
        literal_address("[::g]")


def stub(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]
    return resolve


DNS = stub({"evil.example": ["127.0.0.1"], "meta.example": ["169.254.169.254"],
            "mixed.example": ["8.8.8.8", "10.0.0.7"],
            "v6.example": ["::ffff:192.168.0.1"], "cdn.example": ["93.184.215.14", "2606:4700::1111"],
            "images.internal": ["10.9.9.9"], "lan.example": ["192.168.1.20"], "nat64.example": ["64:ff9b::7f00:1"]})


@pytest.mark.parametrize("host", ["evil.example", "meta.example", "mixed.example", "v6.example", "lan.example",
                                  "nat64.example"])
async def test_names_resolving_to_blocked_addresses_are_refused(host: str) -> None:
    with pytest.raises(BlockedAddress):
        await VettedResolver(STRICT, DNS).resolve(host, 443)


async def test_resolver_pins_the_vetted_addresses_and_keeps_the_name() -> None:
    results = await VettedResolver(STRICT, DNS).resolve("cdn.example", 443)
    assert [(r["hostname"], r["host"], r["port"]) for r in results] == [
        ("cdn.example", "93.184.215.14", 443), ("cdn.example", "2606:4700::1111", 443)]


async def test_resolver_exemptions_and_failures() -> None:
    exempt = AddressPolicy.parse(False, "images.internal")
    [result] = await VettedResolver(exempt, DNS).resolve("images.internal", 80)
    assert result["host"] == "10.9.9.9"
    [result] = await VettedResolver(LENIENT, DNS).resolve("lan.example", 80)
    assert result["host"] == "192.168.1.20"
    with pytest.raises(BlockedAddress):  # allow_private does not open the metadata service
        await VettedResolver(LENIENT, DNS).resolve("meta.example", 80)
    with pytest.raises(MediaFetchError, match="could not be resolved"):
        await VettedResolver(STRICT, DNS).resolve("nowhere.example", 80)
    with pytest.raises(BlockedAddress):  # a literal reaching the resolver is vetted as well
        await VettedResolver(STRICT, DNS).resolve("2130706433", 80)
