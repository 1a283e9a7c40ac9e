"""Audio bytes for the fake TTS and audio facts for the fake transcription.

Everything is 24 kHz mono. ``wav`` is a real RIFF/WAVE file (16-bit PCM) and ``pcm`` the same
samples without a header (24 kHz 16-bit signed little-endian, as the notes say): a sine tone whose
pitch (180-400 Hz) is derived from the seed. The compressed formats are deterministic bytes behind a
plausible container header, at a realistic byte rate, not decodable audio:

=========  =========================================================  =============
format     structure                                                  bytes / second
=========  =========================================================  =============
``mp3``    MPEG-2 Layer III frames (``FF F3 84 C4`` headers, 192 B)    8000
``opus``   Ogg pages with CRC: ``OpusHead``, ``OpusTags``, 80 B packets  ~4100
``aac``    ADTS frames (LC, 24 kHz, mono, 256 B)                      6000
``flac``   ``fLaC`` + STREAMINFO block, then filler                   24000
``wav``    RIFF header + PCM                                          48000
``pcm``    raw PCM                                                    48000
=========  =========================================================  =============
"""

from __future__ import annotations

import hashlib
import math
import struct

RATE = 24000
CONTENT_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
                 "wav": "audio/wav", "pcm": "audio/pcm"}


def pcm(seconds: float, seed: bytes) -> bytes:
    frequency = 180 + hashlib.sha256(seed).digest()[0] * 220 // 255
    period = max(2, round(RATE / frequency))
    one = struct.pack(f"<{period}h", *(int(8000 * math.sin(2 * math.pi * i / period)) for i in range(period)))
    samples = max(1, int(seconds * RATE))
    return (one * (samples // period + 1))[: samples * 2]


def wav(pcm_bytes: bytes, rate: int = RATE, channels: int = 1, bits: int = 16) -> bytes:
    block = channels * bits // 8
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm_bytes), b"WAVE", b"fmt ", 16, 1, channels,
                         rate, rate * block, block, bits, b"data", len(pcm_bytes))
    return header + pcm_bytes


def _filler(size: int, seed: bytes) -> bytes:
    return hashlib.shake_256(seed).digest(size) if size > 0 else b""


def mp3(seconds: float, seed: bytes) -> bytes:
    frames = max(1, math.ceil(seconds * RATE / 576))
    payload = _filler(188, seed)
    return (b"\xff\xf3\x84\xc4" + payload) * frames


def aac(seconds: float, seed: bytes) -> bytes:
    frames = max(1, math.ceil(seconds * RATE / 1024))
    length = 256
    bits = (0xFFF << 44) | (0 << 43) | (0 << 41) | (1 << 40) | (1 << 38) | (6 << 34) | (0 << 33) | (1 << 30)
    bits |= (length << 13) | (0x7FF << 2)
    header = bits.to_bytes(7, "big")
    return (header + _filler(length - 7, seed)) * frames


def flac(seconds: float, seed: bytes) -> bytes:
    samples = max(1, int(seconds * RATE))
    info = struct.pack(">HH", 4096, 4096) + b"\x00" * 6
    packed = (RATE << 44) | (0 << 41) | (15 << 36) | samples
    info += packed.to_bytes(8, "big") + hashlib.md5(seed).digest()
    header = b"fLaC" + bytes([0x80]) + len(info).to_bytes(3, "big") + info
    return header + _filler(samples, seed)


def opus(seconds: float, seed: bytes) -> bytes:
    serial = int.from_bytes(hashlib.sha256(seed).digest()[:4], "little")
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, RATE, 0, 0)
    vendor = b"relaygate-sim"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    pages = [_ogg_page([head], 0, serial, 0, 0x02), _ogg_page([tags], 0, serial, 1, 0)]
    packets = max(1, math.ceil(seconds * 50))  # 20 ms packets
    packet = b"\xf8" + _filler(79, seed)
    sequence, done = 2, 0
    while done < packets:
        count = min(50, packets - done)
        done += count
        flags = 0x04 if done == packets else 0
        pages.append(_ogg_page([packet] * count, done * 960, serial, sequence, flags))
        sequence += 1
    return b"".join(pages)


def _ogg_page(packets: list[bytes], granule: int, serial: int, sequence: int, flags: int) -> bytes:
    lacing = bytearray()
    for data in packets:
        lacing.extend([255] * (len(data) // 255) + [len(data) % 255])
    header = struct.pack("<4sBBqIII", b"OggS", 0, flags, granule, serial, sequence, 0) + bytes([len(lacing)])
    page = header + bytes(lacing) + b"".join(packets)
    crc = _ogg_crc(page)
    return page[:22] + struct.pack("<I", crc) + page[26:]


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        table.append(r & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) & 0xFF) ^ byte]
    return crc


def render(fmt: str, seconds: float, seed: bytes) -> bytes:
    if fmt == "wav":
        return wav(pcm(seconds, seed))
    if fmt == "pcm":
        return pcm(seconds, seed)
    return {"mp3": mp3, "opus": opus, "aac": aac, "flac": flac}[fmt](seconds, seed)


# --- reading, for transcriptions -------------------------------------------------------------

ESTIMATED_BYTES_PER_SECOND = 16000  # 128 kbit/s, used when the upload is not a WAV file


def wav_duration(data: bytes) -> float | None:
    """Duration of a RIFF/WAVE file from its ``fmt `` byte rate and ``data`` size; None if not WAV."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(data):
        kind, size = struct.unpack("<4sI", data[pos : pos + 8])
        if kind == b"fmt " and size >= 16:
            byte_rate = struct.unpack("<I", data[pos + 16 : pos + 20])[0]
        elif kind == b"data":
            available = min(size, len(data) - pos - 8)
            return available / byte_rate if byte_rate else None
        pos += 8 + size + (size & 1)
    return None


def duration_of(data: bytes) -> float:
    """WAV header duration when possible, else ``len / 16000`` (a 128 kbit/s estimate)."""
    exact = wav_duration(data)
    return exact if exact is not None else len(data) / ESTIMATED_BYTES_PER_SECOND
