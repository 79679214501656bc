"""The one image reader: gray or BGR uint8, and a bad file named in one line (or reported, for predict's loop)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from grace_edge.data.images import IMAGE_SUFFIXES, decode_image, is_image, read_image
from grace_edge.errors import InputError


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
