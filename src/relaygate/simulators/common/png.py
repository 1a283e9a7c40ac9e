"""A tiny PNG writer/reader (zlib + struct, no PIL) shared by the image-producing simulators.

:func:`render` draws a deterministic picture of any size: a horizontal gradient between two colours
derived from ``seed``, cut into 8 horizontal bands of slightly different brightness. Only 8 distinct
rows exist, so a 1792x1024 image costs a few thousand Python operations plus one ``zlib`` pass and
compresses to a few kilobytes. ``alpha=True`` writes RGBA (colour type 6) with a soft alpha ramp,
otherwise RGB (colour type 2); both 8-bit, filter type 0 on every row.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
BANDS = 8


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode(width: int, height: int, rows: list[bytes], alpha: bool = False) -> bytes:
    """PNG bytes for ``height`` raw rows (each ``width * (4 if alpha else 3)`` bytes, no filter byte)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    return SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


@functools.lru_cache(maxsize=64)
def render(width: int, height: int, seed: bytes = b"", alpha: bool = False) -> bytes:
    """Deterministic ``width`` x ``height`` PNG whose colours depend only on ``seed``."""
    if width < 1 or height < 1:
        raise ValueError("PNG dimensions must be positive")
    digest = hashlib.sha256(seed).digest()
    start, end = digest[0:3], digest[3:6]
    band_rows = []
    for band in range(BANDS):
        shade = 0.75 + 0.25 * band / (BANDS - 1)
        pixels = bytearray()
        for x in range(width):
            t = x / (width - 1) if width > 1 else 0.0
            pixels.extend(int((a + (b - a) * t) * shade) & 0xFF for a, b in zip(start, end, strict=True))
            if alpha:
                pixels.append(255 - int(128 * t))
        band_rows.append(bytes(pixels))
    rows = [band_rows[min(BANDS - 1, y * BANDS // height)] for y in range(height)]
    return encode(width, height, rows, alpha)


@dataclass(frozen=True)
class PNGInfo:
    width: int
    height: int
    bit_depth: int
    color_type: int
    has_trns: bool

    @property
    def mode(self) -> str:
        """PIL-style mode name, as OpenAI's image errors word it (``RGB``, ``RGBA``, ``L``, ``LA``, ``P``)."""
        return {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}.get(self.color_type, "?")

    @property
    def has_alpha(self) -> bool:
        return self.color_type in (4, 6) or self.has_trns


def info(data: bytes) -> PNGInfo | None:
    """Parse the IHDR (and look for tRNS) of a PNG; None when ``data`` is not a PNG."""
    if not data.startswith(SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        return None
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    has_trns, pos = False, 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"tRNS":
            has_trns = True
        if kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return PNGInfo(width, height, depth, color, has_trns)


def decode_rows(data: bytes) -> list[bytes]:
    """Raw rows of a PNG written by :func:`encode` (filter 0 only) — used by tests to check pixels."""
    meta = info(data)
    if meta is None:
        raise ValueError("not a PNG")
    idat, pos = b"", 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = meta.width * {2: 3, 6: 4, 0: 1, 4: 2}[meta.color_type] + 1
    return [raw[i * stride + 1 : (i + 1) * stride] for i in range(meta.height)]


def sniff_image(data: bytes) -> str | None:
    """MIME type from magic bytes: ``image/png``, ``image/jpeg``, ``image/webp``, ``image/gif`` or None."""
    if data.startswith(SIGNATURE):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None
