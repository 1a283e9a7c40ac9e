"""Channel credentials sealed at rest with AES-256-GCM.

One sealed secret is stored as ``enc:v1:<key-id>:<base64url(nonce | ciphertext+tag)>``: the
prefix tells a sealed value from a plaintext one (databases older than this module), and the key
id tells which configured key sealed it, so a rotated key list still opens old values and
start-up re-seals them with the first key (see ``store.sealing``).

Keys: each configured key is any string of at least 32 characters, best random (``openssl rand
-base64 32``). HKDF-SHA256 derives the AES key and, separately, the public key id, so the id
says nothing about the key. HKDF does not stretch a weak passphrase: use random keys.

The column types at the end seal on write and open on read, so no code path can store a plaintext
key by forgetting a call. They use the process's keyring (``install``), set once at start-up from
RELAYGATE_SECRET_KEY or ``<data-dir>/secret.key``; one process has one key configuration. Rows are
read when the snapshot is built and by the management API, never on the relay's hot path.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import JSON
from sqlalchemy.types import TypeDecorator

from relaygate.store.repos import is_secret_config_key

PREFIX = "enc:v1:"
MIN_KEY_CHARS = 32
_NONCE_BYTES = 12
_SALT = b"relaygate-secretbox-v1"


class SecretError(ValueError):
    """A sealed value cannot be opened: sealed with a key not configured, or altered."""

    def __init__(self, message: str, key_id: str = "") -> None:
        super().__init__(message)
        self.key_id = key_id


class SecretKeyError(ValueError):
    """The configured key material is unusable (too short, empty, none loaded)."""


def _derive(material: str, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=info).derive(material.encode())


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def key_id_of(value: str) -> str:
    """The id of the key that sealed ``value`` ("" if it is not a sealed value)."""
    if not is_sealed(value):
        return ""
    return value[len(PREFIX):].partition(":")[0]


class Keyring:
    """Configured keys, first one sealing; every one of them opens what it sealed."""

    def __init__(self, keys: Iterable[str], source: str = "RELAYGATE_SECRET_KEY") -> None:
        self.source = source  # where the keys came from, for messages (never the keys themselves)
        self._boxes: dict[str, AESGCM] = {}
        for material in keys:
            if len(material) < MIN_KEY_CHARS:
                raise SecretKeyError(f"a secret key must be at least {MIN_KEY_CHARS} characters "
                                     f"(got one of {len(material)}); generate one with: openssl rand -base64 32")
            kid = _derive(material, b"key-id", 4).hex()
            self._boxes.setdefault(kid, AESGCM(_derive(material, b"aes-256-gcm", 32)))
        if not self._boxes:
            raise SecretKeyError("no secret key given")
        self.primary_id = next(iter(self._boxes))

    @classmethod
    def parse(cls, text: str, source: str = "RELAYGATE_SECRET_KEY") -> Keyring:
        """A comma-separated list, as RELAYGATE_SECRET_KEY and secret.key hold it; blanks are ignored."""
        return cls((part.strip() for part in text.split(",") if part.strip()), source)

    @property
    def key_ids(self) -> list[str]:
        return list(self._boxes)

    def seal(self, plaintext: str) -> str:
        head = f"{PREFIX}{self.primary_id}"
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._boxes[self.primary_id].encrypt(nonce, plaintext.encode(), head.encode())
        return f"{head}:{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"

    def open(self, value: str) -> str:
        """The plaintext of a sealed value; a plaintext value (older database) is returned as is."""
        if not is_sealed(value):
            return value
        kid, sep, body = value[len(PREFIX):].partition(":")
        box = self._boxes.get(kid)
        if box is None:
            raise SecretError(f"sealed with key id {kid}, which is not configured", kid)
        try:
            raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
            if not sep or len(raw) < _NONCE_BYTES + 16:
                raise ValueError("too short")
            return box.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], f"{PREFIX}{kid}".encode()).decode()
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise SecretError(f"sealed with key id {kid} but fails authentication (altered or corrupt)",
                              kid) from exc

    def reseal(self, value: str) -> str:
        """``value`` sealed with the first key: unchanged if it already is (after checking it opens)."""
        if is_sealed(value):
            plaintext = self.open(value)
            return value if key_id_of(value) == self.primary_id else self.seal(plaintext)
        return self.seal(value)

    # --- the two shapes channels keep secrets in -----------------------------------------------
    def seal_keys(self, keys: list[str]) -> list[str]:
        return [self.seal(k) for k in keys]

    def open_keys(self, keys: list[Any]) -> list[str]:
        return [self.open(k) if isinstance(k, str) else k for k in keys]

    def reseal_keys(self, keys: list[Any]) -> list[Any]:
        return [self.reseal(k) if isinstance(k, str) else k for k in keys]

    def seal_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Adapter options that look like credentials; the value is sealed as JSON so its type survives."""
        return {name: self.seal(json.dumps(value)) if _secret_entry(name, value) else value
                for name, value in config.items()}

    def open_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return {name: json.loads(self.open(value)) if is_sealed(value) and is_secret_config_key(name) else value
                for name, value in config.items()}

    def reseal_config(self, config: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in config.items():
            if is_sealed(value) and is_secret_config_key(name):
                out[name] = self.reseal(value)
            elif _secret_entry(name, value):
                out[name] = self.seal(json.dumps(value))  # plaintext from an older database
            else:
                out[name] = value
        return out


def _secret_entry(name: str, value: Any) -> bool:
    return is_secret_config_key(name) and value not in (None, "")


_keyring: Keyring | None = None


def install(ring: Keyring) -> None:
    """Make ``ring`` the keyring the sealed columns of this process use."""
    global _keyring
    _keyring = ring


def current() -> Keyring:
    if _keyring is None:
        raise SecretKeyError("no secret key loaded: channel secrets can be neither sealed nor opened")
    return _keyring


class SealedKeys(TypeDecorator[list[str]]):
    """A JSON list of credentials (``channels.keys``), each one sealed."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Any) -> list[str] | None:
        return None if value is None else current().seal_keys(list(value))

    def process_result_value(self, value: list[Any] | None, dialect: Any) -> list[str] | None:
        return None if value is None else current().open_keys(value)


class SealedConfig(TypeDecorator[dict[str, Any]]):
    """A JSON object of adapter options (``channels.config``) whose credential-like entries are sealed."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Any) -> dict[str, Any] | None:
        return None if value is None else current().seal_config(dict(value))

    def process_result_value(self, value: dict[str, Any] | None, dialect: Any) -> dict[str, Any] | None:
        return None if value is None else current().open_config(value)
