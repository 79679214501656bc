"""An image's size from its header: every format OpenCV writes and a camera saves, read without decoding."""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
import pytest

from grace_edge.data.image_header import header_size

IMAGE = (np.random.default_rng(0).random((23, 37, 3)) * 255).astype(np.uint8)  # 37 wide, 23 high: no symmetry


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif", ".webp", ".pgm", ".ppm", ".pbm", ".pam",
                                    ".sr", ".pfm", ".gif"])
def test_opencv_encoded_sizes(suffix: str) -> None:
    image = IMAGE[..., 0] if suffix in (".pgm", ".pbm") else IMAGE
    ok, encoded = cv2.imencode(suffix, image.astype(np.float32) if suffix == ".pfm" else image)
    assert ok
    assert header_size(encoded.tobytes()) == (37, 23)


@pytest.mark.parametrize("fmt, options", [("JPEG", {"progressive": True}), ("MPO", {}), ("WEBP", {}),
                                          ("WEBP", {"lossless": True}), ("TIFF", {"big_tiff": True}), ("GIF", {})])
def test_pillow_encoded_sizes(fmt: str, options: dict) -> None:
    image_module = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    image_module.fromarray(IMAGE).save(buffer, fmt, **options)
    assert header_size(buffer.getvalue()) == (37, 23)


def test_big_endian_tiff_and_top_down_bmp() -> None:
    entries = [(256, 3, 1, struct.pack(">HH", 37, 0)), (257, 4, 1, struct.pack(">I", 23))]
    tiff = b"MM\0*" + struct.pack(">IH", 8, len(entries))
    tiff += b"".join(struct.pack(">HHI", tag, kind, n) + value for tag, kind, n, value in entries)
    assert header_size(tiff) == (37, 23)
    ok, bmp = cv2.imencode(".bmp", IMAGE)
    top_down = bytearray(bmp.tobytes())
    top_down[22:26] = struct.pack("<i", -23)
    assert header_size(bytes(top_down)) == (37, 23)


def test_jpeg_size_after_long_metadata_segments() -> None:
    ok, jpeg = cv2.imencode(".jpg", IMAGE)
    app = b"\xff\xe1" + struct.pack(">H", 65535) + b"\0" * 65533  # an EXIF-sized APP1 segment
    assert header_size(jpeg.tobytes()[:2] + app * 3 + jpeg.tobytes()[2:]) == (37, 23)


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n\0\0", b"\xff\xd8\xff", b"\xff\xd8\xff\xda",
                                  b"BM\0\0", b"II*\0\xff\xff\xff\x00", b"RIFF\0\0\0\0WEBPVP8 ", b"P5\n# only\n",
                                  b"#?RADIANCE\n"])
def test_unknown_or_cut_headers_give_none(data: bytes) -> None:
    assert header_size(data) is None
