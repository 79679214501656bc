"""A line controller on grace_edge.line: the camera loop, verdicts, backpressure, sinks and metrics are the
library's; what is left to write is what your line does with a verdict.

Runs anywhere: a .onnx artifact on ONNX Runtime (CPU), a .engine on TensorRT. A folder of images stands in for the
camera (e.g. NEU-DET's IMAGES/), replayed at --fps::

    python examples/line_controller.py export/grace-n-128-raw200x200x1.onnx ../shared/data/NEU-DET/IMAGES --count 200

On a real line, set the source to your camera (kind camera / rtsp / genicam in a config, or ``source_factory`` = an
iterator of grace_edge.runtime.sources.Frame from your SDK's grab loop) and replace ``RejectGate.fire`` with the
PLC output (or use the OPC UA sink: ``grace-edge line CONFIG.yaml``, README "On the line").
"""

from __future__ import annotations

import argparse
from pathlib import Path

from grace_edge.line import LineService, parse_config
from grace_edge.line.sinks import Item, Sink


class RejectGate(Sink):
    """Every part that must not pass (reject, and uninspected: never passed unseen) fires the gate."""

    name = "reject-gate"

    def __init__(self) -> None:
        super().__init__(None, queue_size=1000)
        self.fired: list[str] = []

    def handle(self, item: Item) -> None:
        event = item.event
        if item.is_part and event["verdict"] != "ok":
            self.fired.append(event["part_id"])
            self.fire(event)

    def fire(self, event: dict) -> None:
        why = event["reason"] or ", ".join(f"{d['class_name']} {d['score']:.2f}" for d in event["defects"])
        print(f"{event['verdict'].upper()} part {event['part_id']} ({event['frame']}): {why}")


def run(artifact: Path, folder: Path, count: int, reject_conf: float, fps: float = 0.0) -> dict[str, float]:
    config = parse_config({
        "model": {"path": str(artifact), "workers": 2},
        "source": {"kind": "folder", "path": str(folder), "fps": fps, "loop": True, "count": count},
        "verdict": {"thresholds": {"default": reject_conf}},
        "sinks": {"jsonl": {"path": "runs/line_controller/events.jsonl"}},
        "http": False,
    }, "line_controller", Path.cwd())
    gate = RejectGate()
    summary = LineService(config, extra_sinks=(gate,)).run()
    print(summary.line())
    return {"parts": summary.captured, "rejected": summary.verdicts.get("reject", 0), "fired": len(gate.fired),
            "uninspected": summary.verdicts.get("uninspected", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", type=Path, help=".onnx (CPU) or .engine (GPU) from grace-edge export / build")
    parser.add_argument("images", type=Path, help="folder of images standing in for the camera")
    parser.add_argument("--count", type=int, default=100, help="number of parts (frames) to inspect (default 100)")
    parser.add_argument("--reject-conf", type=float, default=0.5,
                        help="reject a part when a defect scores at least this (default 0.5)")
    parser.add_argument("--fps", type=float, default=0.0, help="camera frame rate; 0 = as fast as possible")
    args = parser.parse_args()
    run(args.artifact, args.images, args.count, args.reject_conf, args.fps)


if __name__ == "__main__":
    main()
