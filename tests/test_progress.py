"""Progress lines of long loops: silent when short, then about every ``every`` seconds with an ETA, and at the end."""

from __future__ import annotations

import io

from grace_edge.progress import Progress, duration


def test_duration_units():
    assert [duration(s) for s in (45, 14 * 60, 3.2 * 3600, 5.1 * 86400)] == ["45 s", "14 min", "3.2 h", "5.1 days"]


def test_quiet_when_short_then_reports_with_eta_and_the_end():
    now = [0.0]
    out = io.StringIO()
    p = Progress("val m.onnx", 300, every=10, stream=out, clock=lambda: now[0])
    p.update(100)  # 0 s in: nothing yet
    assert out.getvalue() == ""
    now[0] = 12.0
    p.update(100)  # 200 of 300 in 12 s: 6 s left
    now[0] = 18.0
    p.update(100)
    assert out.getvalue().splitlines() == ["val m.onnx: 200/300 images (67%), 12 s, ETA 6 s",
                                           "val m.onnx: 300/300 images (100%), 18 s"]


def test_a_short_loop_never_prints():
    out = io.StringIO()
    p = Progress("calibration", 3, unit="batches", stream=out, clock=lambda: 0.0)
    for _ in range(3):
        p.update()
    assert out.getvalue() == ""
