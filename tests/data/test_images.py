"""The one image reader: gray or BGR uint8, and a bad file named in one line (or reported, for predict's loop)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from grace_edge.data.images import IMAGE_SUFFIXES, decode_image, is_image, read_image
from grace_edge.errors import InputError
from tests.helpers.images import png_bomb


def test_reads_gray_and_bgr(tmp_path: Path) -> None:
    pixels = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), pixels)
    np.testing.assert_array_equal(read_image(path, channels=1), pixels)
    bgr = read_image(path)
    assert bgr.shape == (12, 10, 3) and bgr.dtype == np.uint8
    np.testing.assert_array_equal(bgr[..., 0], pixels)


def test_bad_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    assert decode_image(broken) == (None, "not a decodable image (corrupt or unsupported format)")
    with pytest.raises(InputError, match=r"broken\.jpg: not a decodable image"):
        read_image(broken)
    image, why = decode_image(tmp_path / "missing.png")
    assert image is None and why.startswith("cannot read file")


def test_one_suffix_list() -> None:
    assert {".jpg", ".png", ".bmp", ".tif", ".pgm"} <= IMAGE_SUFFIXES
    assert is_image(Path("A.JPG")) and not is_image(Path("notes.txt"))


def test_a_bomb_is_refused_from_its_header_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 22 item 2: a PNG named .jpg declaring 40000x30000 raised cv2.error; 16000x16000 was decoded (1.6 GB)
    from grace_edge.data import images

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded an image its header had already ruled out")

    for name, (w, h) in {"bomb.jpg": (40000, 30000), "big.png": (16000, 16000), "wide.png": (70000, 1000)}.items():
        (tmp_path / name).write_bytes(png_bomb(w, h))
        with monkeypatch.context() as m:
            m.setattr(cv2, "imdecode", no_decode)
            image, why = decode_image(tmp_path / name)
        assert image is None and f"declares {w}x{h} pixels" in why and f"{images.MAX_IMAGE_PIXELS:,}" in why


def test_largest_allowed_size_still_decodes(tmp_path: Path) -> None:
    from grace_edge.data.images import MAX_IMAGE_PIXELS, check_image_header

    assert check_image_header(png_bomb(16384, MAX_IMAGE_PIXELS // 16384)) == ""
    assert "above the limit" in check_image_header(png_bomb(16384, MAX_IMAGE_PIXELS // 16384 + 1))


def test_an_opencv_error_is_one_bad_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise cv2.error("OpenCV(5.1.0) loadsave.cpp:80: error: (-215:Assertion failed) pixels <= limit")

    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.zeros((4, 4), np.uint8))
    monkeypatch.setattr(cv2, "imdecode", refuse)
    image, why = decode_image(path)
    assert image is None and why.startswith("not a decodable image")
