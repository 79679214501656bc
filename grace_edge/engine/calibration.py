"""INT8 calibration images: which files, and how they are fed to the graph.

Images come from the *train* split of a data YAML (never val: the accuracy gate measures on val). ``n`` of them are
picked evenly over the sorted file list, so every NEU-DET class (file names start with the class) is represented and
the choice is the same on every run. They are fed exactly as the runtime feeds them (``grace_edge.runtime``'s host
preprocessing): raw uint8 camera pixels for ``uint8_nhwc`` graphs, letterboxed float for ``float32_nchw``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from grace_edge.artifact import ArtifactMeta
from grace_edge.data.yolo_yaml import pick_evenly, split_images
from grace_edge.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import onnx

DEFAULT_CALIB_IMAGES = 128  # about 1 s each for GRACE-s at 640 on a 2-core CPU: minutes, not tens of minutes


def pick_images(files: Sequence[Path], n: int) -> list[Path]:
    """``n`` files spread evenly over the sorted ``files`` (all of them when there are fewer)."""
    if n < 1:
        raise InputError(f"--calib-images must be at least 1, got {n}")
    return pick_evenly(files, n)


def calibration_images(data_yaml: str | Path, n: int = DEFAULT_CALIB_IMAGES) -> list[Path]:
    """The calibration images for ``data_yaml``: ``n`` of its train split, evenly picked."""
    if n < 1:
        raise InputError(f"--calib-images must be at least 1, got {n}")
    return pick_evenly(split_images(data_yaml, "train"), n)


def read_image(path: Path, channels: int) -> np.ndarray:
    """Read ``path`` as uint8 HxWxC with ``channels`` channels (BGR for 3, as OpenCV and the runtime use)."""
    from grace_edge.data.images import read_image as read

    image = read(path, channels)
    return image[:, :, None] if image.ndim == 2 else image


def graph_batch(model: "onnx.ModelProto") -> int:
    """Rows per calibration batch: the graph's fixed batch, or 1 for a dynamic batch axis."""
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    return dim0.dim_value if dim0.HasField("dim_value") and dim0.dim_value > 0 else 1


class CalibrationReader:
    """ONNX Runtime ``CalibrationDataReader`` over image files, in the artifact's input format.

    Supports ``set_range`` so that ``quantize_static`` can calibrate in strides (bounded memory).
    """

    def __init__(self, images: Sequence[Path], meta: ArtifactMeta, input_name: str, batch: int = 1) -> None:
        if not images:
            raise InputError("no calibration images")
        self.images, self.meta, self.input_name, self.batch = list(images), meta, input_name, batch
        self.set_range(0, len(self))

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch)  # batches, the last one padded by repetition

    def set_range(self, start_index: int, end_index: int) -> None:
        self._next, self._end = start_index, min(end_index, len(self))

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= self._end:
            return None
        i, self._next = self._next, self._next + 1
        paths = self.images[i * self.batch : (i + 1) * self.batch]
        paths += [paths[-1]] * (self.batch - len(paths))
        return {self.input_name: self.load(paths)}

    def load(self, paths: Sequence[Path]) -> np.ndarray:
        """One graph input batch from ``paths``, prepared as the runtime prepares camera images."""
        import numpy as np

        from grace_edge.runtime.host_preprocess import check_images, fill_input

        meta = self.meta
        raw = [read_image(p, meta.channels) for p in paths]
        try:
            checked = check_images(raw, meta)
        except InputError as e:
            raise InputError(f"calibration images {[p.name for p in paths]}: {e}") from None
        buffer = np.zeros((len(paths), *meta.input_shape), dtype=meta.input.dtype)
        fill_input(checked, meta, buffer)
        return buffer
