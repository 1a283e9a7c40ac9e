"""The sealing box on its own: round trips, tampering, wrong and rotated keys, key format."""

from __future__ import annotations

import base64

import pytest

from relaygate.store.secretbox import (
    PREFIX,
    Keyring,
    SecretError,
    SecretKeyError,
    is_sealed,
    key_id_of,
)

K1 = "first-test-key-0123456789abcdefghij"
K2 = "second-test-key-0123456789abcdefghi"
SECRET = "sk-upstream-0123456789abcdef"


def _flip(value: str, index: int) -> str:
    """The sealed value with one bit of its decoded payload changed."""
    head, body = value.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[index] ^= 0x01
    return f"{head}:{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"


def test_round_trip_and_stored_form() -> None:
    ring = Keyring([K1])
    sealed = ring.seal(SECRET)
    assert sealed.startswith(PREFIX) and is_sealed(sealed) and SECRET not in sealed
    assert key_id_of(sealed) == ring.primary_id and len(ring.primary_id) == 8
    assert ring.open(sealed) == SECRET
    assert ring.seal(SECRET) != sealed, "a fresh nonce each time: equal secrets must not look equal"
    assert ring.open(ring.seal("")) == "" and ring.open(ring.seal("ключ|秘密")) == "ключ|秘密"


def test_plaintext_from_an_older_database_passes_through() -> None:
    assert Keyring([K1]).open(SECRET) == SECRET
    assert not is_sealed(SECRET) and key_id_of(SECRET) == ""


@pytest.mark.parametrize("index", [0, 11, 12, -1])  # nonce, ciphertext, tag
def test_tampered_payload_is_refused(index: int) -> None:
    ring = Keyring([K1])
    with pytest.raises(SecretError, match="fails authentication"):
        ring.open(_flip(ring.seal(SECRET), index))


def test_truncated_or_garbled_value_is_refused() -> None:
    ring = Keyring([K1])
    sealed = ring.seal(SECRET)
    for broken in (sealed[:-6], f"{PREFIX}{ring.primary_id}:AAAA", f"{PREFIX}{ring.primary_id}", sealed + "!!"):
        with pytest.raises(SecretError):
            ring.open(broken)


def test_wrong_key_is_refused_and_named() -> None:
    sealed = Keyring([K1]).seal(SECRET)
    other = Keyring([K2])
    with pytest.raises(SecretError, match="not configured") as info:
        other.open(sealed)
    assert info.value.key_id == key_id_of(sealed)


def test_key_id_header_cannot_be_swapped() -> None:
    """The header is authenticated: relabelling a value with another configured key's id fails."""
    ring = Keyring([K1, K2])
    sealed = Keyring([K2]).seal(SECRET)
    relabelled = sealed.replace(key_id_of(sealed), ring.primary_id, 1)
    with pytest.raises(SecretError):
        ring.open(relabelled)


def test_rotation_first_key_seals_every_key_opens_reseal_is_idempotent() -> None:
    old = Keyring([K1]).seal(SECRET)
    rotated = Keyring.parse(f" {K2} , {K1},")
    assert rotated.key_ids == [Keyring([K2]).primary_id, Keyring([K1]).primary_id]
    assert rotated.open(old) == SECRET
    resealed = rotated.reseal(old)
    assert key_id_of(resealed) == rotated.primary_id and rotated.open(resealed) == SECRET
    assert rotated.reseal(resealed) == resealed
    assert key_id_of(rotated.reseal(SECRET)) == rotated.primary_id  # plaintext is sealed
    with pytest.raises(SecretError):
        Keyring([K2]).reseal(Keyring([K1]).seal(SECRET))


def test_key_ids_depend_on_the_key_only() -> None:
    assert Keyring([K1]).primary_id == Keyring([K1]).primary_id != Keyring([K2]).primary_id
    assert K1[:8] not in Keyring([K1]).primary_id


@pytest.mark.parametrize("text", ["", " , ", "short-key"])
def test_unusable_key_material(text: str) -> None:
    with pytest.raises(SecretKeyError):
        Keyring.parse(text)


def test_config_seals_credential_entries_only_and_keeps_their_type() -> None:
    ring = Keyring([K1])
    config = {"api_version": "2024-10-21", "secret_key": "baidu-sk", "access_token": {"a": 1},
              "jwt_ttl_s": 60, "api_key": "", "password": None, "organization": "org-1"}
    sealed = ring.seal_config(config)
    assert is_sealed(sealed["secret_key"]) and is_sealed(sealed["access_token"])
    assert {k: sealed[k] for k in ("api_version", "jwt_ttl_s", "api_key", "password", "organization")} == \
        {k: config[k] for k in ("api_version", "jwt_ttl_s", "api_key", "password", "organization")}
    assert ring.open_config(sealed) == config
    assert ring.reseal_config(config)["secret_key"] != "baidu-sk"  # plaintext from an older database
    assert Keyring([K2, K1]).open_config(Keyring([K2, K1]).reseal_config(sealed)) == config


def test_keys_lists() -> None:
    ring = Keyring([K1])
    sealed = ring.seal_keys(["a-key", "b|c"])
    assert all(is_sealed(k) for k in sealed) and ring.open_keys(sealed) == ["a-key", "b|c"]
    assert ring.reseal_keys(["plain", sealed[0]])[1] == sealed[0]
