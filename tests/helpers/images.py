"""Crafted image files for the readers' tests."""

from __future__ import annotations

import struct
import zlib


def png_bomb(width: int, height: int, rows: int = 2) -> bytes:
    """A PNG that declares ``width`` x ``height`` gray pixels and holds ``rows`` of them: a few bytes on disk,
    what a decompression bomb looks like to a header reader."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * rows * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
