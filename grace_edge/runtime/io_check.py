"""The one check of a backend's graph I/O against the artifact's metadata, run for every backend.

Each backend describes the tensors its runtime reports (:class:`TensorSpec`: name, numpy dtype, shape with ``None``
for a dynamic dimension) and :func:`check_io` compares them with :class:`~grace_edge.artifact.ArtifactMeta` once,
at open, as Polygraphy's ``BaseRunner.infer`` checks inputs once for every runner that only supplies its metadata.
A runtime that does not report something (a dtype, an output's shape) passes ``None`` and that part is not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from grace_edge.artifact import INPUT_NAME, OUTPUT_COUNT, OUTPUT_DETECTIONS, ArtifactMeta
from grace_edge.errors import ArtifactError


@dataclass(frozen=True)
class TensorSpec:
    """One graph tensor as a runtime reports it."""

    name: str
    dtype: Any = None  # anything np.dtype() takes; None: not reported
    shape: tuple[int | None, ...] | None = None  # batch first; None entries are dynamic; None: not reported


def _fixed(shape: Sequence[int | None]) -> list[int | None]:
    return [d if isinstance(d, int) and d >= 0 else None for d in shape]


def _show(spec: TensorSpec) -> str:
    dtype = np.dtype(spec.dtype).name if spec.dtype is not None else "?"
    shape = "?" if spec.shape is None else "[" + ",".join("B" if i == 0 and d is None else "?" if d is None else str(d)
                                                     for i, d in enumerate(spec.shape)) + "]"
    return f"{dtype} {shape}"


def check_io(origin: str, meta: ArtifactMeta, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec],
             batch_range: tuple[int, int] | None = None) -> tuple[int, int]:
    """The (min, max) batch a run may take, after checking the graph's tensors are the ones ``meta`` describes.

    ``batch_range``: the runtime's own range for a dynamic batch (a TensorRT optimisation profile); otherwise a
    static batch B gives (B, B) and a dynamic one (1, the metadata's max batch)."""
    ins = {t.name: t for t in inputs}
    outs = {t.name: t for t in outputs}
    want_out = {OUTPUT_DETECTIONS, OUTPUT_COUNT}
    if set(ins) != {INPUT_NAME} or not want_out <= set(outs):
        raise ArtifactError(f"{origin}: graph I/O is {sorted(ins)} -> {sorted(outs)}, expected ['{INPUT_NAME}'] -> "
                            f"{sorted(want_out)}; export it with 'grace-edge export'")
    expected = {
        INPUT_NAME: TensorSpec(INPUT_NAME, meta.input.dtype, (None, *meta.input_shape)),
        OUTPUT_DETECTIONS: TensorSpec(OUTPUT_DETECTIONS, np.float32, (None, meta.max_det, 6)),
        OUTPUT_COUNT: TensorSpec(OUTPUT_COUNT, np.int32, (None,)),
    }
    for name, want in expected.items():
        got = ins.get(name) or outs[name]
        if not _matches(got, want):
            what = "input" if name == INPUT_NAME else "output"
            raise ArtifactError(f"{origin}: {what} '{name}' is {_show(got)}, but its metadata says {_show(want)} "
                                f"({meta.input_format} {list(meta.input_shape)}, max_det {meta.max_det})")
    batch = _fixed(ins[INPUT_NAME].shape or (None,))[0]
    if batch is not None and batch > 0:  # static batch: every run must use exactly this many rows
        return batch, batch
    return batch_range if batch_range is not None else (1, meta.batch[2])


def _matches(got: TensorSpec, want: TensorSpec) -> bool:
    if got.dtype is not None and np.dtype(got.dtype) != np.dtype(want.dtype):
        return False
    if got.shape is None:
        return True
    shape = _fixed(got.shape)
    if len(shape) != len(want.shape):  # type: ignore[arg-type]
        return False
    return all(g is None or w is None or g == w for g, w in zip(shape[1:], want.shape[1:]))  # type: ignore[index]
