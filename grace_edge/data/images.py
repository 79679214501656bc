"""Image files, defined once: which suffixes are images, and the one reader every stage uses (calibration, the
accuracy gate, evaluation, bench and predict decode a file the same way, as Ultralytics' own ``imread`` does)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from grace_edge.data.image_header import header_size
from grace_edge.errors import InputError

if TYPE_CHECKING:
    import numpy as np

# Ultralytics' image formats plus the netpbm ones industrial cameras write
IMAGE_SUFFIXES = frozenset({".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})
# The largest image any stage decodes: 8192x8192 = 64 M pixels (192 MiB as BGR), the size of a 4096-line frame
# of the widest (16384-px) line-scan cameras; NEU-DET's are 200x200. A file declaring more is refused from its
# header, before a pixel is allocated: a 1 MB PNG can declare 30000x30000, which OpenCV would allocate (2.7 GB)
# before finding the data short, and 40000x30000 made OpenCV raise instead of returning None.
MAX_IMAGE_SIDE = 8192
MAX_IMAGE_PIXELS = MAX_IMAGE_SIDE * MAX_IMAGE_SIDE
NOT_DECODABLE = "not a decodable image (corrupt or unsupported format)"


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def check_image_header(data: bytes) -> str:
    """"" when ``data``'s header declares a size within MAX_IMAGE_PIXELS, else why not: the check every reader
    (predict, bench, calibration, data conversion, evaluation, the line service) makes before it decodes."""
    size = header_size(data)
    if size is None:
        return NOT_DECODABLE  # a header image_header does not know gives no size to bound: not decoded
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        return (f"its header declares {width}x{height} pixels, {width * height:,} in all, above the limit of "
                f"{MAX_IMAGE_PIXELS:,} ({MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}); not decoded")
    if not width or not height:
        return f"its header declares an empty {width}x{height} image"
    return ""


def decode_image_bytes(data: bytes, channels: int = 3) -> tuple[np.ndarray | None, str]:
    """(uint8 image, "") or (None, why not) for an encoded image in memory; the header is checked first."""
    import cv2
    import numpy as np

    why = check_image_header(data)
    if why:
        return None, why
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error as e:  # OpenCV asserts on what its own limits refuse: one bad file, not the end of a run
        return None, f"not a decodable image (OpenCV: {str(e).strip().splitlines()[0].split(' error: ', 1)[-1]})"
    if image is None:
        return None, NOT_DECODABLE
    return image, ""


def decode_image(path: str | Path, channels: int = 3) -> tuple[np.ndarray | None, str]:
    """(uint8 image, "") or (None, why not), for callers that report a bad file and go on. Gray HxW when
    ``channels`` is 1, else BGR HxWx3. Python reads the bytes and ``imdecode`` decodes them, so non-ASCII paths
    work on Windows too (``cv2.imread`` fails there)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return None, f"cannot read file ({e.strerror})"
    return decode_image_bytes(data, channels)


def read_image(path: str | Path, channels: int = 3) -> np.ndarray:
    """:func:`decode_image`, with a bad file as an InputError that names it."""
    image, why = decode_image(path, channels)
    if image is None:
        raise InputError(f"{path}: {why}")
    return image
