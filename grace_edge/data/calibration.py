"""INT8 calibration data: which train images, stratified by class, and how they are fed to the graph.

Images come from the *train* split of a data YAML (never val: the accuracy gate measures on val). ``n`` of them are
picked class by class: each image is filed under the class with the most boxes in its label file (no boxes:
background), the classes take turns, and each class's share is spread evenly over its sorted files, so a rare
class is not crowded out by a common one and the choice is the same on every run. They are fed exactly as the
runtime feeds them (:mod:`grace_edge.host_input`): raw uint8 camera pixels for ``uint8_nhwc`` graphs, letterboxed
float for ``float32_nchw``. :func:`calibration_set` loads the first batch through the quantizers' own reader before
any quantizer runs, so images that do not fit the graph (size, channels) fail in a second, not after minutes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from grace_edge.artifact import ArtifactMeta
from grace_edge.data.yolo_yaml import class_names, load_data_yaml, pick_evenly, split_images
from grace_edge.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import onnx

DEFAULT_CALIB_IMAGES = 128  # about 1 s each for GRACE-s at 640 on a 2-core CPU: minutes, not tens of minutes
BACKGROUND = "(background)"  # images whose label file has no box, or that have none


def pick_images(files: Sequence[Path], n: int) -> list[Path]:
    """``n`` files spread evenly over the sorted ``files`` (all of them when there are fewer)."""
    if n < 1:
        raise InputError(f"--calib-images must be at least 1, got {n}")
    return pick_evenly(files, n)


def calibration_images(data_yaml: str | Path, n: int = DEFAULT_CALIB_IMAGES) -> list[Path]:
    """The calibration images for ``data_yaml``: ``n`` of its train split, stratified by class (sorted)."""
    return sorted(_stratified(data_yaml, n)[0])


def _stratified(data_yaml: str | Path, n: int) -> tuple[list[Path], dict[str, int]]:
    """``n`` train images, the classes taking turns (see the module); and how many each class got."""
    if n < 1:
        raise InputError(f"--calib-images must be at least 1, got {n}")
    files = split_images(data_yaml, "train")
    groups = _by_class(files, class_names(load_data_yaml(data_yaml)[0], Path(data_yaml)))
    share = _shares(n, {name: len(paths) for name, paths in groups.items()})
    picked = {name: pick_evenly(groups[name], k) for name, k in share.items() if k}
    return [p for paths in picked.values() for p in paths], {name: len(paths) for name, paths in picked.items()}


def _by_class(files: Sequence[Path], names: list[str]) -> dict[str, list[Path]]:
    """Files grouped by the class with the most boxes in each label file (ties: the lower id), in class order."""
    from grace_edge.data.labels import label_path_for, read_boxes  # the reader val uses: a broken line is an error

    groups: dict[str, list[Path]] = {name: [] for name in [*names, BACKGROUND]}
    for path in files:
        label = label_path_for(path)
        ids = read_boxes(label, len(names))[1] if label.is_file() else []
        counts = Counter(int(i) for i in ids)
        top = min(counts, key=lambda c: (-counts[c], c)) if counts else None
        groups[names[top] if top is not None else BACKGROUND].append(path)
    return {name: paths for name, paths in groups.items() if paths}


def _shares(n: int, sizes: dict[str, int]) -> dict[str, int]:
    """``n`` split over the groups in turns, none given more than it has (round-robin: equal where possible)."""
    share = dict.fromkeys(sizes, 0)
    left = min(n, sum(sizes.values()))
    while left:
        for name in sizes:
            if left and share[name] < sizes[name]:
                share[name] += 1
                left -= 1
    return share


@dataclass(frozen=True)
class CalibrationSet:
    """The calibration images of one build, checked against the graph they calibrate: the paths (part of the
    calibration cache key), how many each class got, and the reader every quantizer pulls batches from."""

    paths: tuple[Path, ...]
    per_class: dict[str, int]
    meta: ArtifactMeta = field(repr=False)
    input_name: str
    batch: int

    def reader(self) -> "CalibrationReader":
        return CalibrationReader(self.paths, self.meta, self.input_name, self.batch)

    def describe(self) -> str:
        """``crazing 22, inclusion 21, ...``: the class mix, for the build log."""
        return ", ".join(f"{name} {k}" for name, k in self.per_class.items())


def calibration_set(data_yaml: str | Path, n: int, model: "onnx.ModelProto", meta: ArtifactMeta) -> CalibrationSet:
    """``n`` train images of ``data_yaml`` stratified by class, for the FP32 graph ``model`` with ``meta`` (its input
    format, input name and batch); the first batch is loaded now."""
    paths, per_class = _stratified(data_yaml, n)
    return checked_set(sorted(paths), model, meta, per_class)


def checked_set(paths: Sequence[str | Path], model: "onnx.ModelProto", meta: ArtifactMeta,
                per_class: dict[str, int] | None = None) -> CalibrationSet:
    """A :class:`CalibrationSet` of the given ``paths`` (a quantizer handed a plain list: tests, benchmarks), its
    first batch loaded through the reader the quantizers use."""
    if not paths:
        raise InputError("INT8 needs calibration images; none were given")
    calib = CalibrationSet(tuple(Path(p) for p in paths), per_class or {}, meta, model.graph.input[0].name,
                           graph_batch(model))
    calib.reader().check()
    return calib


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

    def check(self) -> None:
        """Pull the first batch as a quantizer would (an InputError naming the images if it does not load), then
        rewind."""
        self.set_range(0, 1)
        self.get_next()
        self.set_range(0, len(self))

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

        from grace_edge.host_input import check_images, fill_input

        meta = self.meta
        raw = [read_image(p, meta.channels) for p in paths]
        try:
            checked = check_images(raw, meta)
        except InputError as e:
            raise InputError(f"calibration images {[p.name for p in paths]}: {e}") from None
        buffer = np.zeros((len(paths), *meta.input_shape), dtype=meta.input.dtype)
        fill_input(checked, meta, buffer)
        return buffer
