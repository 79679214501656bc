"""The predict loop behind ``grace-edge predict``: run an artifact on images, a folder, a video or a camera, draw
the boxes and/or write one JSON per image. runtime/cli.py only parses the command line into :class:`PredictOptions`."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grace_edge.runtime.options import RuntimeOptions

DRAW_MIN_SIDE = 600  # NEU-DET's 200x200 images are drawn 3x larger: labels stay readable

# log(text, problem): problem lines (skipped images, ignored files) go to stderr on the command line.
Log = Callable[[str, bool], None]


def print_log(text: str, problem: bool = False) -> None:
    print(text, file=sys.stderr if problem else sys.stdout)


@dataclass(frozen=True)
class PredictOptions:
    """One predict run; ``runtime``: how the artifact runs (``device`` is set into it at open)."""

    artifact: str
    source: str
    out: Path | None = None  # None: runs/predict/<artifact stem>, or -2, -3, ... so that an earlier run is kept
    conf: float | None = None
    thresholds: str | None = None
    device: str = "auto"
    max_frames: int | None = None
    save_json: bool = False
    draw: bool = True
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)


@dataclass(frozen=True)
class PredictReport:
    frames: int
    detections: int
    failed: tuple[tuple[str, str], ...]  # (frame name, why it was skipped)
    out: Path

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def predict(options: PredictOptions, log: Log = print_log) -> PredictReport:
    """Run the whole source; a frame that cannot be read or used is logged and counted, and the run goes on."""
    from grace_edge.runtime.detector import Detector
    from grace_edge.runtime.sources import iter_frames

    out = _checked_out(options, log)
    frames = detections = 0
    failed: list[tuple[str, str]] = []
    used: set[str] = set()
    runtime = RuntimeOptions.of(options.runtime, device=options.device)
    with Detector.open(options.artifact, conf=options.conf, thresholds=options.thresholds, options=runtime) as det:
        for frame in iter_frames(options.source, limit=options.max_frames):
            found = _detect(det, frame, failed, log)
            if found is None:
                continue
            frames += 1
            detections += len(found)
            _write(options, out, _output_stem(frame.name, used), frame, found, det.conf)
            summary = ", ".join(f"{d.class_name} {d.score:.2f}" for d in found[:5]) + (" ..." if len(found) > 5 else "")
            log(f"  {frame.name}: {len(found)} detection(s)" + (f" ({summary})" if found else ""), False)
    written = "" if not options.draw and not options.save_json else f"; results in {out}"
    log(f"predict: {frames} image(s), {detections} detection(s), {len(failed)} unreadable{written}", False)
    return PredictReport(frames, detections, tuple(failed), out)


def _checked_out(options: PredictOptions, log: Log) -> Path:
    """Refuse a bad run before the model is opened; returns the output folder."""
    from grace_edge.errors import InputError
    from grace_edge.io import fresh_path
    from grace_edge.runtime.sources import describe

    kind = describe(options.source)
    if options.max_frames is not None and options.max_frames < 1:
        raise InputError(f"--max-frames {options.max_frames} must be at least 1")
    out = options.out if options.out is not None else fresh_path(Path("runs") / "predict" / Path(options.artifact).stem)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; --out names the folder the results go to")
    if kind == "folder":
        _check_folder(options.source, log)
    return out


def _check_folder(folder: str, log: Log) -> None:
    from grace_edge.errors import InputError
    from grace_edge.runtime.sources import folder_images

    images, others = folder_images(Path(folder))
    if others:
        log(f"predict: ignoring {len(others)} non-image file(s) in {folder}: "
            + ", ".join(p.name for p in others[:5]) + (" ..." if len(others) > 5 else ""), True)
    if not images:
        raise InputError(f"source {folder}: folder has no image files")


def _detect(det: Any, frame: Any, failed: list[tuple[str, str]], log: Log) -> list[Any] | None:
    """The frame's detections, or None (logged and added to ``failed``) when it cannot be read or used."""
    from grace_edge.errors import InputError

    error = frame.error
    if frame.image is not None:
        try:
            return det.detect(frame.image)[0]
        except InputError as e:
            error = str(e)
    failed.append((frame.name, error))
    log(f"  {frame.name}: SKIPPED, {error}", True)
    return None


def _output_stem(name: str, used: set[str]) -> str:
    stem = Path(name).stem
    if stem in used:  # e.g. a.jpg and a.png in one folder
        stem = name.replace(".", "_")
    used.add(stem)
    return stem


def _write(options: PredictOptions, out: Path, stem: str, frame: Any, found: list[Any], conf: Any) -> None:
    import cv2

    from grace_edge.errors import InputError
    from grace_edge.io import write_bytes, write_json
    from grace_edge.runtime.draw import draw_detections

    if options.draw:
        ok, encoded = cv2.imencode(".jpg", draw_detections(frame.image, found, min_side=DRAW_MIN_SIDE))
        if not ok:
            raise InputError(f"{frame.name}: OpenCV could not encode the drawn image")
        write_bytes(out / f"{stem}.jpg", encoded.tobytes())
    if options.save_json:
        h, w = frame.image.shape[:2]
        write_json(out / f"{stem}.json", {
            "source": frame.name, "width": w, "height": h, "model": str(options.artifact), "conf": conf,
            "thresholds": options.thresholds,
            "detections": [d.to_dict() for d in found],
        })
