"""Host-side input handling shared by every backend: validation, channel conversion, letterbox and its inverse.

Input rules (the same for ONNX Runtime and TensorRT):
- images are ``uint8`` arrays, ``HxW`` (grayscale), ``HxWx1`` or ``HxWx3`` (BGR, the order OpenCV reads);
  any other dtype (float, uint16, ...) or shape is an :class:`InputError` naming the image;
- channels are converted on the host only when the artifact needs another count: 3 -> 1 with OpenCV's BGR->gray
  (exact for NEU-DET, whose three channels are identical), 1 -> 3 by repeating the plane;
- ``uint8_nhwc`` (raw-input) artifacts take the camera image as it is and need its exact native size: a wrong
  size is an error, not a silent resize, because resizing would change the defect scale the model was built for;
- ``float32_nchw`` artifacts get an Ultralytics-style letterbox (aspect kept, centred, pad value 114, RGB, /255)
  and the boxes are mapped back to the original pixels with :meth:`Letterbox.unmap`.
"""

from __future__ import annotations

from typing import Sequence, Union

import cv2
import numpy as np

from grace_edge.artifact import ArtifactMeta
from grace_edge.errors import InputError
from grace_edge.letterbox import PAD_VALUE, Letterbox

ImagesLike = Union[np.ndarray, Sequence[np.ndarray]]


def as_image_list(images: ImagesLike) -> list[np.ndarray]:
    """Split the caller's ``images`` into a list of single images (no copy)."""
    if isinstance(images, np.ndarray):
        if images.ndim == 2 or (images.ndim == 3 and images.shape[2] in (1, 3)):
            return [images]
        if images.ndim == 4:
            if not len(images):  # an empty NHWC batch is the same mistake as []
                raise InputError("images: empty batch (pass at least one image)")
            return list(images)
        raise InputError(
            f"images: array of shape {images.shape} is neither one HxW / HxWx1 / HxWx3 image nor an NHWC batch"
        )
    if isinstance(images, (list, tuple)):
        if not images:
            raise InputError("images: empty batch (pass at least one image)")
        return list(images)
    raise InputError(f"images: expected a numpy array or a list of them, got {type(images).__name__}")


def check_image(image: object, index: int, channels: int) -> np.ndarray:
    """Validate one image and return it as ``HxWxC`` uint8 with the artifact's channel count."""
    where = f"image {index}"
    if not isinstance(image, np.ndarray):
        raise InputError(f"{where}: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        hint = ""
        if np.issubdtype(image.dtype, np.floating) and image.size and not np.isfinite(image).all():
            hint = " and it contains NaN/inf values"
        raise InputError(
            f"{where}: dtype is {image.dtype}{hint}; pass uint8 pixels 0-255 (e.g. as cv2.imread returns them)"
        )
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise InputError(f"{where}: shape {image.shape} is not HxW, HxWx1 or HxWx3")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"{where}: empty image of shape {image.shape}")
    if image.shape[2] == channels:
        return image
    if channels == 1:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY)[:, :, None]
    return np.repeat(image, 3, axis=2)


def check_images(images: ImagesLike, meta: ArtifactMeta) -> list[np.ndarray]:
    """Validate a batch for ``meta``; returns ``HxWxC`` uint8 images with the artifact's channel count."""
    checked = [check_image(im, i, meta.channels) for i, im in enumerate(as_image_list(images))]
    if meta.raw_input:
        want = tuple(meta.input_shape[:2])
        for i, im in enumerate(checked):
            if im.shape[:2] != want:
                raise InputError(
                    f"image {i}: size {im.shape[1]}x{im.shape[0]} (WxH) but this raw-input artifact takes exactly "
                    f"{want[1]}x{want[0]} camera images; export one for this size or use a float32_nchw artifact"
                )
    return checked


def letterbox(image: np.ndarray, imgsz: tuple[int, int], out: np.ndarray) -> Letterbox:
    """Letterbox ``HxWxC`` uint8 ``image`` into ``out`` (``C x imgsz`` float32, RGB order for 3 channels, 0-1)."""
    h, w = image.shape[:2]
    plan = Letterbox.plan((h, w), imgsz)
    (new_h, new_w), left, top = plan.resized, plan.left, plan.top
    resized = image if (new_h, new_w) == (h, w) else cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    if resized.ndim == 2:
        resized = resized[:, :, None]
    out.fill(np.float32(PAD_VALUE) / np.float32(255))  # as Ultralytics: uint8 pad, then /255
    planes = resized.transpose(2, 0, 1)
    if planes.shape[0] == 3:
        planes = planes[::-1]  # BGR -> RGB, the order Ultralytics trains in
    np.divide(planes, np.float32(255), out=out[:, top : top + new_h, left : left + new_w])
    return plan


def fill_input(images: list[np.ndarray], meta: ArtifactMeta, buffer: np.ndarray) -> list[Letterbox | None]:
    """Write checked images into the backend's input ``buffer`` (first len(images) rows); pad rows are zeroed."""
    n = len(images)
    if meta.raw_input:
        for i, im in enumerate(images):
            buffer[i] = im
        transforms: list[Letterbox | None] = [None] * n
    else:
        transforms = [letterbox(im, meta.imgsz, buffer[i]) for i, im in enumerate(images)]
    if len(buffer) > n:
        buffer[n:] = 0
    return transforms
