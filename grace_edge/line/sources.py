"""Where the line's frames come from: a folder replayed at a set rate, a video file, an RTSP stream or USB camera
(OpenCV ``VideoCapture``), or a GenICam industrial camera (``harvesters``, the ``[genicam]`` extra).

A source is an iterator of :class:`grace_edge.runtime.sources.Frame` (an unreadable frame has ``image=None`` and
``error`` set: it becomes an ``uninspected`` part, never a skipped one). :class:`Capture` stamps each frame with its
part id and capture time the moment it arrives. Stall detection is the service's job (a watchdog beside the source's
thread), because a camera SDK's grab call may block without a timeout.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from grace_edge.errors import InputError
from grace_edge.line.config import SourceConfig
from grace_edge.runtime.sources import Frame, _video_frames, folder_images, iter_frames


@dataclass(frozen=True)
class Capture:
    """One frame as the line saw it: ``part_id`` is unique across runs (the sinks' key), ``seq`` counts from 0."""

    part_id: str
    seq: int
    captured_at: float  # time.time() at capture: what the events carry
    captured_mono: float  # time.perf_counter() at capture: what latencies are measured from
    name: str
    image: np.ndarray | None
    error: str = ""


def stamp(frames: Iterable[Frame], run_id: str) -> Iterator[Capture]:
    for seq, frame in enumerate(frames):
        yield Capture(f"{run_id}-{seq:08d}", seq, time.time(), time.perf_counter(), frame.name, frame.image,
                      frame.error)


def paced(frames: Iterable[Frame], fps: float) -> Iterator[Frame]:
    """``frames`` at ``fps`` (0: as fast as they come); a late frame does not make the next ones early."""
    if fps <= 0:
        yield from frames
        return
    period = 1.0 / fps
    due = time.perf_counter()
    for frame in frames:
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        due = max(due + period, time.perf_counter() - period)
        yield frame


def folder_frames(folder: Path, channels: int, loop: bool) -> Iterator[Frame]:
    """The images directly in ``folder`` in name order (again and again with ``loop``), decoded on the way."""
    from grace_edge.data.images import decode_image

    paths, _ = folder_images(folder)
    if not paths:
        raise InputError(f"source folder {folder}: no images in it")
    for path in itertools.cycle(paths) if loop else paths:
        image, why = decode_image(path, channels)
        yield Frame(path.name, image, why)


def capture_frames(url: str) -> Iterator[Frame]:
    """An RTSP/HTTP stream (or anything else cv2.VideoCapture opens by name) until it stops giving frames."""
    import cv2

    capture = cv2.VideoCapture(url)
    if not capture.isOpened():
        raise InputError(f"source {url}: cannot open the stream")
    return _video_frames(capture, "stream", None)  # predict's reader: names stream_000000, ...; releases at the end


def _video(path: str, loop: bool) -> Iterator[Frame]:
    for lap in itertools.count():
        for frame in iter_frames(path):
            yield Frame(f"{frame.name}_{lap}" if loop else frame.name, frame.image, frame.error)
        if not loop:
            return


def gentl_producers(cti: str) -> list[str]:
    """The GenTL producer files to load: ``cti``, else every .cti in the folders of GENICAM_GENTL64_PATH."""
    if cti:
        return [cti]
    found = []
    for folder in filter(None, os.environ.get("GENICAM_GENTL64_PATH", "").split(os.pathsep)):
        if Path(folder).is_dir():
            found += sorted(str(p) for p in Path(folder).glob("*.cti"))
    return found


def genicam_frames(cti: str, serial: str, timeout_s: float) -> Iterator[Frame]:
    """Frames from a GenICam camera through the vendor's GenTL producer (8-bit mono or colour pixel formats)."""
    producers = gentl_producers(cti)
    if not producers:
        raise InputError("source genicam: no GenTL producer (.cti) found: set source.path to the .cti file of your "
                         "camera vendor's SDK (or list its folder in GENICAM_GENTL64_PATH)")
    from harvesters.core import Harvester

    harvester = Harvester()
    try:
        for producer in producers:
            harvester.add_file(producer, check_existence=True)
        harvester.update()
        if not harvester.device_info_list:
            raise InputError(f"source genicam: the GenTL producer {', '.join(producers)} finds no camera")
        acquirer = harvester.create({"serial_number": serial} if serial else 0)
        yield from _genicam_grab(acquirer, timeout_s)
    finally:
        harvester.reset()


def _genicam_grab(acquirer, timeout_s: float) -> Iterator[Frame]:
    acquirer.start()
    try:
        for index in itertools.count():
            with acquirer.fetch(timeout=timeout_s) as buffer:
                component = buffer.payload.components[0]
                data = component.data
                name = f"genicam_{index:06d}"
                if data.dtype != np.uint8:
                    yield Frame(name, None, f"pixel format {component.data_format} is not 8-bit")
                    continue
                image = data.reshape(component.height, component.width, -1).copy()  # the buffer is reused
            yield Frame(name, image[:, :, 0] if image.shape[2] == 1 else image)
    finally:
        acquirer.stop()
        acquirer.destroy()


def open_source(config: SourceConfig, channels: int = 3) -> Iterator[Frame]:
    """The frames ``config`` names, paced at ``config.fps`` and cut at ``config.count``; opening errors raise now."""
    kind = config.kind
    if kind == "folder":
        frames: Iterator[Frame] = folder_frames(Path(config.path), channels, config.loop)
    elif kind == "video":
        frames = _video(config.path, config.loop)
    elif kind == "camera":
        frames = iter_frames(config.path)
    elif kind == "rtsp":
        frames = capture_frames(config.path)
    elif kind == "genicam":
        frames = genicam_frames(config.path, config.serial, config.stall_s)
    else:
        raise InputError(f"source.kind {kind!r} is not a source this build knows")
    first = next(frames, None)  # open the device now: a missing camera is a start-up error, not a stall
    started = itertools.chain([first], frames) if first is not None else iter(())
    limited = itertools.islice(started, config.count) if config.count else started
    return paced(limited, config.fps)
