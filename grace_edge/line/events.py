"""The events every sink receives: one ``grace-edge/line-event/1`` per part, and ``grace-edge/line-service/1`` for
what happens to the service itself (source stalled or ended, backend reopened, started, stopped).

The part event (documented in docs/line.md; a field is only ever added under the same schema, never renamed or
removed: anything else is a new schema number)::

    {"schema": "grace-edge/line-event/1", "line": "line-1", "part_id": "20261207T132045Z-00000042", "seq": 42,
     "frame": "crazing_1.jpg", "captured_at": 1796649645.123, "judged_at": 1796649645.131,
     "verdict": "reject", "reason": "", "detail": "",
     "defects": [{"class_name": "crazing", "class_id": 0, "score": 0.91, "box": [10.0, 12.0, 40.0, 50.0],
                  "area_px": 1140.0}],
     "model": "grace-n-128.onnx", "backend": "onnxruntime"}
"""

from __future__ import annotations

import time
from typing import Any

from grace_edge.line.sources import Capture
from grace_edge.line.verdict import Verdict, box_area

PART_SCHEMA = "grace-edge/line-event/1"
SERVICE_SCHEMA = "grace-edge/line-service/1"


def part_event(capture: Capture, verdict: Verdict, line: str, model: str, backend: str) -> dict[str, Any]:
    return {
        "schema": PART_SCHEMA,
        "line": line,
        "part_id": capture.part_id,
        "seq": capture.seq,
        "frame": capture.name,
        "captured_at": round(capture.captured_at, 6),
        "judged_at": round(time.time(), 6),
        "verdict": verdict.verdict,
        "reason": verdict.reason,
        "detail": verdict.detail,
        "defects": [
            {"class_name": d.class_name, "class_id": d.class_id, "score": round(d.score, 4),
             "box": [round(v, 1) for v in d.box], "area_px": round(box_area(d), 1)}
            for d in verdict.defects
        ],
        "model": model,
        "backend": backend,
    }


def service_event(line: str, event: str, detail: str = "") -> dict[str, Any]:
    """``event``: started, stopped, source_stalled, source_resumed, source_ended, source_failed, backend_failed,
    backend_reopened."""
    return {"schema": SERVICE_SCHEMA, "line": line, "event": event, "detail": detail, "at": round(time.time(), 6)}
