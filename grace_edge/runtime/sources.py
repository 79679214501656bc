"""What ``grace-edge predict`` reads: an image file, a folder of images, a video file or a camera index.

Every item comes out as a :class:`Frame`; an unreadable one has ``image=None`` and ``error`` set, so the caller
reports and counts it instead of skipping it silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from grace_edge.data.images import decode_image, is_image
from grace_edge.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".wmv", ".mpg", ".mpeg")


@dataclass
class Frame:
    """One image to run: ``name`` is unique within the source (file name, or ``<video>_<frame>``)."""

    name: str
    image: np.ndarray | None
    error: str = ""


def read_image(path: Path) -> Frame:
    """Decode one image file as 8-bit BGR; a missing, unreadable or corrupt file gives a Frame with ``error``."""
    image, why = decode_image(path)
    return Frame(path.name, image, why)


def _video_frames(capture: cv2.VideoCapture, stem: str, limit: int | None) -> Iterator[Frame]:
    index = 0
    try:
        while limit is None or index < limit:
            ok, image = capture.read()
            if not ok:
                break
            yield Frame(f"{stem}_{index:06d}", image)
            index += 1
    finally:
        capture.release()


def describe(source: str) -> str:
    """``image``, ``folder``, ``video`` or ``camera`` (raises InputError if none fits)."""
    if source.isdigit():
        return "camera"
    path = Path(source)
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise InputError(f"source {source}: no such file or folder (or use a camera index such as 0)")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return "video"
    return "image"


def folder_images(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image files, other files) directly in ``folder``, sorted by name."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if is_image(p)]
    return images, [p for p in files if not is_image(p)]


def iter_frames(source: str, limit: int | None = None) -> Iterator[Frame]:
    """Yield the frames of ``source``; ``limit`` caps video and camera frames (a camera runs until it if given)."""
    kind = describe(source)
    if kind == "camera":
        capture = cv2.VideoCapture(int(source))
        if not capture.isOpened():
            raise InputError(f"source {source}: cannot open camera {source}")
        yield from _video_frames(capture, f"camera{source}", limit)
    elif kind == "video":
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            raise InputError(f"source {source}: cannot open video (corrupt file or codec missing)")
        yield from _video_frames(capture, Path(source).stem, limit)
    elif kind == "folder":
        images, _ = folder_images(Path(source))
        for path in images:
            yield read_image(path)
    else:
        yield read_image(Path(source))
