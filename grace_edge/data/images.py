"""Image files, defined once: which suffixes are images, and the one reader every stage uses (calibration, the
accuracy gate, evaluation, bench and predict decode a file the same way, as Ultralytics' own ``imread`` does)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from grace_edge.errors import InputError

if TYPE_CHECKING:
    import numpy as np

# Ultralytics' image formats plus the netpbm ones industrial cameras write
IMAGE_SUFFIXES = frozenset({".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def decode_image(path: str | Path, channels: int = 3) -> tuple[np.ndarray | None, str]:
    """(uint8 image, "") or (None, why not), for callers that report a bad file and go on. Gray HxW when
    ``channels`` is 1, else BGR HxWx3. ``np.fromfile`` + ``imdecode`` also reads non-ASCII paths on Windows."""
    import cv2
    import numpy as np

    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as e:
        return None, f"cannot read file ({e.strerror})"
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    image = cv2.imdecode(data, flag) if data.size else None
    if image is None:
        return None, "not a decodable image (corrupt or unsupported format)"
    return image, ""


def read_image(path: str | Path, channels: int = 3) -> np.ndarray:
    """:func:`decode_image`, with a bad file as an InputError that names it."""
    image, why = decode_image(path, channels)
    if image is None:
        raise InputError(f"{path}: {why}")
    return image
