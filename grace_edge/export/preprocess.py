"""In-graph preprocessing of raw camera pixels, and the mapping of boxes back to those pixels.

The graph takes ``uint8 [B, H, W, C]`` at the camera's size and does what the host would otherwise do: cast (first,
as TensorRT needs of a UINT8 input), scale to [0, 1], NHWC -> NCHW (a Reshape for one channel), BGR -> RGB
(3 channels, OpenCV order like Ultralytics' predictor) or gray -> 3 channels, then Ultralytics' letterbox
(``auto=False``, centred, pad value 114) with every size and offset fixed at export time. Resizing is bilinear with
half-pixel centres, the same sampling as ``cv2.INTER_LINEAR``; a square source and square network input need no
padding.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from grace_edge.letterbox import PAD_VALUE, Letterbox

class RawPreprocess(nn.Module):
    """``uint8 [B, H, W, C]`` (C = 1 gray or 3 BGR) -> ``float32 [B, 3, th, tw]`` RGB in [0, 1], letterboxed."""

    def __init__(self, letterbox: Letterbox, channels: int) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"raw input must have 1 (gray) or 3 (BGR) channels, got {channels}")
        self.letterbox, self.channels = letterbox, channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        lb = self.letterbox
        # Cast first: TensorRT's ONNX parser accepts UINT8 only as a network input that feeds a Cast directly.
        x = images.to(torch.float32) * (1.0 / 255.0)
        if self.channels == 1:  # a Reshape, not a Transpose, which made ONNX Runtime re-layout the resize (10x slower)
            x = x.reshape(-1, 1, *lb.source)  # sizes fixed at export time: no Shape ops in the graph
        else:
            x = x.permute(0, 3, 1, 2)
        if lb.resized != lb.source:  # resize before the channel copy: a gray image is resized once, not three times
            x = F.interpolate(x, size=lb.resized, mode="bilinear", align_corners=False)
        x = torch.cat([x, x, x], dim=1) if self.channels == 1 else x[:, [2, 1, 0]]
        if (lb.top, lb.bottom, lb.left, lb.right) != (0, 0, 0, 0):
            x = F.pad(x, (lb.left, lb.right, lb.top, lb.bottom), value=PAD_VALUE / 255.0)
        return x


class BoxesToSource(nn.Module):
    """Map xyxy boxes in ``detections`` [B, N, 6] from network-input pixels to source pixels, clipped to the image."""

    def __init__(self, letterbox: Letterbox) -> None:
        super().__init__()
        lb = letterbox
        (h, w), (rh, rw) = lb.source, lb.resized
        self.register_buffer("offset", torch.tensor([lb.left, lb.top, lb.left, lb.top], dtype=torch.float32))
        # per-axis scale of the actual (rounded) resize, as Ultralytics' scale_boxes does
        self.register_buffer("scale", torch.tensor([w / rw, h / rh, w / rw, h / rh], dtype=torch.float32))
        self.register_buffer("limit", torch.tensor([w, h, w, h], dtype=torch.float32))

    def forward(self, detections: torch.Tensor) -> torch.Tensor:
        boxes = ((detections[..., :4] - self.offset) * self.scale).clamp(min=0.0)
        boxes = torch.minimum(boxes, self.limit)
        return torch.cat([boxes, detections[..., 4:]], dim=-1)


def letterbox_reference(image: np.ndarray, imgsz: int) -> np.ndarray:
    """The host path the graph replaces: Ultralytics' ``LetterBox`` (cv2), BGR -> RGB, /255.

    ``image`` uint8 HxW (gray) or HxWx3 (BGR) -> float32 [1, 3, imgsz, imgsz]. Used by tests and benchmarks.
    """
    import cv2
    from ultralytics.data.augment import LetterBox

    bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
    boxed = LetterBox((imgsz, imgsz), auto=False)(image=bgr)
    return np.ascontiguousarray(boxed[..., ::-1].transpose(2, 0, 1))[None].astype(np.float32) / np.float32(255)
