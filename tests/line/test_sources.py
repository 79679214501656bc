"""Line sources: a folder replayed at a set rate, a video file through OpenCV, and the one-line refusals of a stream
that cannot open and of GenICam without a GenTL producer."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from grace_edge.errors import InputError
from grace_edge.line.config import SourceConfig
from grace_edge.line.sources import open_source, stamp


def test_folder_replay_at_a_set_rate(neu_det: Path) -> None:
    started = time.perf_counter()
    frames = list(open_source(SourceConfig("folder", str(neu_det / "IMAGES"), fps=50, count=11), channels=1))
    elapsed = time.perf_counter() - started
    assert len(frames) == 11 and elapsed >= 10 / 50  # 10 periods between 11 frames
    assert frames[0].image.shape == (200, 200) and frames[0].name == sorted(
        p.name for p in (neu_det / "IMAGES").iterdir())[0]


def test_folder_loop_and_stamps(tmp_path: Path) -> None:
    import cv2

    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((8, 8), i * 50, np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    frames = open_source(SourceConfig("folder", str(tmp_path), loop=True, count=7), channels=1)
    captures = list(stamp(frames, "run"))
    assert [c.name for c in captures] == ["0.png", "1.png", "broken.png"] * 2 + ["0.png"]
    assert [c.part_id for c in captures[:2]] == ["run-00000000", "run-00000001"]
    assert captures[2].image is None and "not a decodable image" in captures[2].error  # reported, not skipped
    assert all(a.captured_at <= b.captured_at for a, b in zip(captures, captures[1:]))


def test_a_video_file(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "line.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.release()
    frames = list(open_source(SourceConfig("video", str(path))))
    assert len(frames) == 5 and frames[0].image.shape == (48, 64, 3)


def test_a_stream_that_does_not_open_is_one_line() -> None:
    with pytest.raises(InputError, match="cannot open the stream"):
        open_source(SourceConfig("rtsp", "rtsp://127.0.0.1:1/none"))


def test_genicam_without_a_gentl_producer_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENICAM_GENTL64_PATH", raising=False)
    with pytest.raises(InputError, match=r"no GenTL producer \(\.cti\) found") as info:
        open_source(SourceConfig("genicam"))
    assert "\n" not in str(info.value)
