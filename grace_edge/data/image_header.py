"""An image's width and height from the first bytes of its file, without decoding a pixel.

The format comes from the bytes, not the suffix (a PNG named ``.jpg`` is read as PNG, as OpenCV decodes it):
PNG, JPEG (and MPO, its multi-picture form), BMP, TIFF (and BigTIFF, DNG), WebP, GIF, Sun raster and the netpbm
formats (PBM, PGM, PPM, PAM, PFM): all that OpenCV decodes but Radiance HDR and AVIF, which no camera here writes.
``None`` means the header is none of those or is cut short; the caller refuses such a file rather than decode
it blind. Only the first picture counts: it is the one OpenCV's ``imdecode`` returns.
"""

from __future__ import annotations

import re
import struct
from typing import Callable, Optional

Size = Optional[tuple[int, int]]  # (width, height)

# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): their segment holds the frame size
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI: markers without a segment
_TIFF_WIDTH, _TIFF_HEIGHT = 256, 257
_PNM_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n?)*(\d+)")  # netpbm: numbers between blanks and # comments


def _png(data: bytes) -> Size:
    if data[12:16] != b"IHDR" or len(data) < 24:
        return None
    return struct.unpack(">II", data[16:24])


def _jpeg(data: bytes) -> Size:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:  # stray bytes before a marker: libjpeg skips them (with a warning), so do we
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_NO_LENGTH:
            i += 2
            continue
        if marker == 0xDA:  # start of scan before any frame header
            return None
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _JPEG_SOF:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def _bmp(data: bytes) -> Size:
    if len(data) < 26:
        return None
    (dib,) = struct.unpack("<I", data[14:18])
    if dib == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # a negative height is a top-down bitmap


def _tiff(data: bytes) -> Size:
    end = "<" if data[:2] == b"II" else ">"
    big = struct.unpack(end + "H", data[2:4])[0] == 43  # BigTIFF: 64-bit offsets and counts
    head, count_fmt, entry, value_at = (16, "Q", 20, 12) if big else (8, "H", 12, 8)
    if len(data) < head:
        return None
    (ifd,) = struct.unpack(end + ("Q" if big else "I"), data[8:16] if big else data[4:8])
    count_size = struct.calcsize(count_fmt)
    if ifd + count_size > len(data):
        return None
    (n,) = struct.unpack(end + count_fmt, data[ifd : ifd + count_size])
    sizes = {}
    for k in range(min(n, (len(data) - ifd - count_size) // entry)):
        at = ifd + count_size + k * entry
        tag, kind = struct.unpack(end + "HH", data[at : at + 4])
        if tag in (_TIFF_WIDTH, _TIFF_HEIGHT) and kind in (3, 4, 16):  # SHORT, LONG, LONG8
            fmt = {3: "H", 4: "I", 16: "Q"}[kind]
            sizes[tag] = struct.unpack(end + fmt, data[at + value_at : at + value_at + struct.calcsize(fmt)])[0]
    if _TIFF_WIDTH in sizes and _TIFF_HEIGHT in sizes:
        return sizes[_TIFF_WIDTH], sizes[_TIFF_HEIGHT]
    return None


def _webp(data: bytes) -> Size:
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:  # extended: 24-bit canvas size minus one
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:  # lossless: 14-bit sizes minus one
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":  # lossy key frame: 14-bit sizes
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _sun_raster(data: bytes) -> Size:
    return struct.unpack(">II", data[4:12]) if len(data) >= 12 else None


def _gif(data: bytes) -> Size:
    return struct.unpack("<HH", data[6:10]) if len(data) >= 10 else None


def _pnm(data: bytes) -> Size:
    if data[1:2] == b"7":  # PAM: WIDTH and HEIGHT lines
        header = data[: data.find(b"ENDHDR")] if b"ENDHDR" in data else b""
        width, height = re.search(rb"\bWIDTH\s+(\d+)", header), re.search(rb"\bHEIGHT\s+(\d+)", header)
        return (int(width.group(1)), int(height.group(1))) if width and height else None
    first = _PNM_TOKEN.match(data, 2)
    second = _PNM_TOKEN.match(data, first.end()) if first else None
    return (int(first.group(1)), int(second.group(1))) if second else None


_SIGNATURES: tuple[tuple[Callable[[bytes], bool], Callable[[bytes], Size]], ...] = (
    (lambda d: d.startswith(b"\x89PNG\r\n\x1a\n"), _png),
    (lambda d: d.startswith(b"\xff\xd8"), _jpeg),
    (lambda d: d.startswith(b"BM"), _bmp),
    (lambda d: d[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"), _tiff),
    (lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP", _webp),
    (lambda d: d[:6] in (b"GIF87a", b"GIF89a"), _gif),
    (lambda d: d.startswith(b"\x59\xa6\x6a\x95"), _sun_raster),
    (lambda d: len(d) > 2 and d[:1] == b"P" and d[1:2] in b"1234567Ff" and d[2:3].isspace(), _pnm),
)


def header_size(data: bytes) -> Size:
    """(width, height) that ``data``'s header declares, or None when the format is unknown or the header cut."""
    for matches, read in _SIGNATURES:
        if matches(data):
            try:
                return read(data)
            except struct.error:  # a field cut short: no size to trust
                return None
    return None
