"""Read one split of a YOLO-format dataset: its images and their boxes in original image pixels.

The data YAML follows Ultralytics' conventions:
- ``path``: dataset root; a relative root is taken relative to the YAML's folder (default: the YAML's folder);
- ``train`` / ``val`` / ``test``: a folder of images (searched recursively), a ``.txt`` file listing image paths
  (relative entries are relative to the ``.txt`` file's folder), or a list of those; relative to the root;
- ``names``: a list of class names or a ``{index: name}`` dict.

Each image's label file is found and read by :mod:`grace_edge.data.labels` (Ultralytics' rule and line format; any
bad line is an :class:`InputError`). An image without a label file is a background image (no defects): it is kept
and counts in the metrics (but a split where no image has a label file is an error: the labels are most likely in
the wrong place).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grace_edge.data.images import decode_image_bytes
from grace_edge.data.labels import label_path_for, read_boxes
from grace_edge.data.yolo_yaml import class_names, load_data_yaml, pick_evenly, split_images
from grace_edge.errors import InputError

_TRUNCATION_CHECKED = frozenset({".jpg", ".jpeg", ".png"})


@dataclass(frozen=True)
class ImageLabels:
    """One image of a split. ``name`` is its file name, the key for its predictions (unique within a split)."""

    name: str
    path: Path
    width: int
    height: int
    boxes: np.ndarray  # [n, 4] float64 x1, y1, x2, y2 in original image pixels
    classes: np.ndarray  # [n] int64 class indices
    label_path: Path | None  # None: no label file, a background image


@dataclass(frozen=True)
class DatasetSplit:
    """All images of one split, in sorted path order, and the dataset's class names."""

    names: list[str]
    split: str
    images: list[ImageLabels]

    @property
    def num_instances(self) -> int:
        return int(sum(len(im.classes) for im in self.images))


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image as OpenCV decodes it for the model (EXIF rotation applied).

    OpenCV decodes a truncated JPEG or PNG as a half-grey picture without an error, so those formats are also
    decoded by Pillow, which refuses a truncated file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: image not found or not readable ({e.__class__.__name__})") from None
    image, why = decode_image_bytes(data)  # the size bound from the header first, as every reader
    if image is None:
        raise InputError(f"{path}: image does not read ({why})")
    if path.suffix.lower() in _TRUNCATION_CHECKED:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
        except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError... for a broken file
            raise InputError(f"{path}: image does not read, truncated or corrupt ({e.__class__.__name__})") from None
    return image.shape[1], image.shape[0]


def read_split(data: str | os.PathLike[str], split: str = "val", max_images: int | None = None) -> DatasetSplit:
    """Read the images and labels of ``split``; ``max_images`` keeps that many, spread evenly over the split."""
    origin = Path(data)
    cfg, _ = load_data_yaml(origin)
    names = class_names(cfg, origin)
    paths = sorted({Path(os.path.abspath(p)) for p in split_images(origin, split)})  # not resolve(): keep /images/
    by_name: dict[str, Path] = {}
    images = []
    for path in pick_evenly(paths, max_images):
        if path.name in by_name:
            raise InputError(f"{path} and {by_name[path.name]}: two images of split {split!r} share a file name")
        by_name[path.name] = path
        width, height = image_size(path)
        label = label_path_for(path)
        if label.is_file():
            boxes, classes = read_boxes(label, len(names))
            boxes = boxes * (width, height, width, height)  # normalized -> original image pixels
        else:
            label, boxes, classes = None, np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
        images.append(ImageLabels(path.name, path, width, height, boxes, classes, label))
    if all(im.label_path is None for im in images):
        raise InputError(f"{origin}: no label file for any image of split {split!r} (looked for e.g. "
                         f"{label_path_for(images[0].path)}); labels belong in a 'labels' folder beside 'images'")
    return DatasetSplit(names, split, images)
