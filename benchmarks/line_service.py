"""The line service's cost: sustained parts/s and capture -> MQTT event latency of ``grace-edge line`` (MQTT sink on,
a real mosquitto on loopback), next to a bare ``Detector.detect`` loop on the same artifact and frames, in one run.

Two phases, each alternating bare and service rounds so both see the same machine load:

- throughput: frames as fast as they come (block policy: nothing dropped), parts/s = frames / wall time;
- latency: frames paced at ``--pace`` x the bare loop's measured rate (a line running below its capacity; at
  capacity every latency is queueing). Bare: the frame's due time (a camera triggered at a fixed rate) -> ``detect``
  returned, so a frame that waits for the previous one counts its wait. Service: capture (the source hands the frame
  over) -> the event received by ``mosquitto_sub`` (its own process, its own receive stamp) through the broker.

Frames are NEU-DET images decoded once into memory, so neither side pays for JPEG decoding. ``--minutes M`` runs a
soak instead: the service paced at ``--fps`` for M minutes, RSS sampled each minute, events counted by part id at the
subscriber (lost = judged but never received; duplicates = received twice).

    grace-edge export --model grace-n --imgsz 128          # export/grace-n-128-raw200x200x1.onnx (untrained)
    python benchmarks/line_service.py                      # results/line_service.{json,md}
    python benchmarks/line_service.py --minutes 10         # results/line_service_soak.{json,md}
"""

from __future__ import annotations

from _results import publish  # benchmarks/_results.py

import argparse
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "export" / "grace-n-128-raw200x200x1.onnx"
DEFAULT_IMAGES = REPO.parent / "shared" / "data" / "NEU-DET" / "IMAGES"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX artifact (default %(default)s)")
    p.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="NEU-DET IMAGES folder")
    p.add_argument("--frames", type=int, default=400, help="frames per round (default %(default)s)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per side and phase (default %(default)s)")
    p.add_argument("--pace", type=float, default=0.5,
                   help="latency phase rate as a fraction of the bare loop's parts/s (default %(default)s)")
    p.add_argument("--workers", type=int, default=1, help="Detector workers, both sides (default %(default)s)")
    p.add_argument("--in-flight", type=int, default=2, help="service queue.in_flight (default %(default)s)")
    p.add_argument("--shared-cpu", action="store_true",
                   help="both sides: ONNX Runtime threads sleep when idle instead of spinning (model.shared_cpu)")
    p.add_argument("--minutes", type=float, default=0.0, help="soak for this many minutes instead")
    p.add_argument("--fps", type=float, default=30.0, help="soak frame rate (default %(default)s)")
    p.add_argument("--tag", default="", help="results file stem (default line_service or line_service_soak)")
    return p.parse_args()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_frames(folder: Path, n: int) -> list[np.ndarray]:
    import cv2

    paths = sorted(folder.glob("*.jpg"))[:n]
    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Broker:
    """A throwaway mosquitto on 127.0.0.1 and a free port."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        conf = folder / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\nlog_dest none\n")
        self.process = subprocess.Popen(["mosquitto", "-c", str(conf)])
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("mosquitto did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Subscriber:
    """``mosquitto_sub`` in its own process (its receive time stamped by it, so this process's threads cannot delay
    the stamp); records receive time - captured_at per part id."""

    def __init__(self, port: int, topic: str) -> None:
        self.latency: dict[str, float] = {}
        self.judged: dict[str, float] = {}  # capture -> verdict made (the pipeline's share of the latency)
        self.counts: Counter[str] = Counter()
        self.process = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", "1",
                                         "-F", "%U %p"], stdout=subprocess.PIPE, text=True)
        self.probed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        for _ in range(100):  # subscribed once a probe comes back
            subprocess.run(["mosquitto_pub", "-p", str(port), "-t", topic, "-q", "1", "-m", "probe"], check=True)
            if self.probed.wait(0.1):
                return
        raise SystemExit("mosquitto_sub: not subscribed")

    def _read(self) -> None:
        for line in self.process.stdout:
            stamp, _, payload = line.rstrip("\n").partition(" ")
            if payload == "probe":
                self.probed.set()
                continue
            event = json.loads(payload)
            self.counts[event["part_id"]] += 1
            self.latency.setdefault(event["part_id"], float(stamp) - event["captured_at"])
            self.judged.setdefault(event["part_id"], event["judged_at"] - event["captured_at"])

    def reset(self) -> None:
        self.latency, self.judged, self.counts = {}, {}, Counter()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def paced(frames: list[np.ndarray], n: int, fps: float) -> Iterator[tuple[float, np.ndarray]]:
    """(due time, frame): frame i is due at start + i / fps, as a camera triggered at a fixed rate captures it."""
    period = 1.0 / fps if fps > 0 else 0.0
    start = time.perf_counter()
    for i in range(n):
        due = start + i * period
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        yield max(due, start) if period else time.perf_counter(), frames[i % len(frames)]


def bare_round(detector: Any, frames: list[np.ndarray], n: int, fps: float) -> dict[str, Any]:
    """Latency = capture (the frame's due time) -> detect returned: a frame due while the previous one is still being
    detected waits, and that wait counts, as it does in the service's queue."""
    latencies = []
    start = time.perf_counter()
    for due, image in paced(frames, n, fps):
        detector.detect(image)
        latencies.append(time.perf_counter() - due)
    return {"parts_per_s": n / (time.perf_counter() - start), "latency_s": latencies}


def service_config(args: argparse.Namespace, work: Path, port: int, run: str) -> Any:
    from grace_edge.line.config import parse_config

    data = {
        "line": "bench", "model": {"path": str(args.model), "workers": args.workers, "shared_cpu": args.shared_cpu},
        "source": {"kind": "folder", "path": str(args.images), "stall_s": 30},
        "verdict": {"thresholds": {"default": 0.25}},
        "queue": {"size": 8, "policy": "block", "in_flight": args.in_flight},
        "sinks": {"mqtt": {"port": port, "topic_prefix": "bench", "spool_dir": str(work / f"spool-{run}")}},
        "http": {"port": 0}, "drain_s": 30,
    }
    if args.minutes:
        data["sinks"]["jsonl"] = {"path": str(work / "events.jsonl"), "max_bytes": 5_000_000, "backups": 2}
    return parse_config(data, "benchmark config", work)


def service_round(args: argparse.Namespace, work: Path, port: int, run: str, frames: list[np.ndarray], n: int,
                  fps: float, subscriber: Subscriber) -> dict[str, Any]:
    from grace_edge.line.service import LineService
    from grace_edge.runtime.sources import Frame

    subscriber.reset()
    service = LineService(service_config(args, work, port, run),
                          source_factory=lambda _: (Frame(f"f{i}", im) for i, (_, im) in enumerate(paced(frames, n, fps))))
    service.start()  # opens the detector: not timed, as the bare side's Detector.open is not
    start = time.perf_counter()
    summary = service.wait()
    elapsed = time.perf_counter() - start
    deadline = time.monotonic() + 10
    while len(subscriber.counts) < summary.captured and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"parts_per_s": summary.captured / elapsed, "latency_s": list(subscriber.latency.values()),
            "judged_s": list(subscriber.judged.values()),
            "parts": summary.captured, "received": len(subscriber.counts), "verdicts": summary.verdicts}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q)) if values else float("nan")


def benchmark(args: argparse.Namespace, work: Path, port: int) -> None:
    from grace_edge.runtime.detector import Detector

    frames = load_frames(args.images, 300)
    subscriber = Subscriber(port, "bench/events")
    load_before = os.getloadavg()
    sides: dict[str, dict[str, list]] = {s: {"throughput": [], "latency": []} for s in ("bare", "service")}
    with Detector.open(args.model, conf=0.25, workers=args.workers, shared_cpu=args.shared_cpu) as detector:
        bare_round(detector, frames, 50, 0)  # warm-up
        for r in range(args.rounds):
            sides["bare"]["throughput"].append(bare_round(detector, frames, args.frames, 0))
            sides["service"]["throughput"].append(
                service_round(args, work, port, f"t{r}", frames, args.frames, 0, subscriber))
            log(f"throughput round {r}: bare {sides['bare']['throughput'][-1]['parts_per_s']:.1f}, service "
                f"{sides['service']['throughput'][-1]['parts_per_s']:.1f} parts/s")
        bare_rate = float(np.median([x["parts_per_s"] for x in sides["bare"]["throughput"]]))
        fps = args.pace * bare_rate
        for r in range(args.rounds):
            sides["bare"]["latency"].append(bare_round(detector, frames, args.frames, fps))
            sides["service"]["latency"].append(
                service_round(args, work, port, f"l{r}", frames, args.frames, fps, subscriber))
            log(f"latency round {r} at {fps:.1f} fps done")
    subscriber.close()
    report = summarise(args, sides, fps, load_before)
    publish(args.tag or "line_service", report, markdown(args, report))


def summarise(args: argparse.Namespace, sides: dict, fps: float, load_before: tuple) -> dict[str, Any]:
    out: dict[str, Any] = {"settings": {k: str(v) for k, v in vars(args).items()}, "latency_fps": fps,
                           "cpus": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg()}
    for side, phases in sides.items():
        rates = [x["parts_per_s"] for x in phases["throughput"]]
        lat = [v for x in phases["latency"] for v in x["latency_s"]]
        out[side] = {"parts_per_s_rounds": rates, "parts_per_s": float(np.median(rates)),
                     "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "latency_samples": len(lat)}
        if side == "service":
            judged = [v for x in phases["latency"] for v in x["judged_s"]]
            out[side]["judged_p50_ms"], out[side]["judged_p99_ms"] = pct(judged, 50), pct(judged, 99)
            rounds = phases["throughput"] + phases["latency"]
            out[side]["parts"] = sum(x["parts"] for x in rounds)
            out[side]["received"] = sum(x["received"] for x in rounds)
    bare, service = out["bare"], out["service"]
    out["throughput_overhead"] = 1 - service["parts_per_s"] / bare["parts_per_s"]
    out["p99_added_ms"] = service["p99_ms"] - bare["p99_ms"]
    return out


def markdown(args: argparse.Namespace, r: dict[str, Any]) -> list[str]:
    b, s = r["bare"], r["service"]
    return [
        "# Line service vs a bare Detector.detect loop",
        "",
        f"Model {args.model.name} (untrained GRACE-n unless named otherwise), ONNX Runtime, workers {args.workers}"
        f"{', shared_cpu' if args.shared_cpu else ''}, "
        f"service in_flight {args.in_flight}, block policy, MQTT sink to mosquitto on loopback (QoS 1, spool on). "
        f"{args.rounds} alternating rounds of {args.frames} frames per side and phase; latency phase paced at "
        f"{r['latency_fps']:.1f} fps ({args.pace:.0%} of the bare rate). {r['cpus']} CPUs shared with other jobs, "
        f"load {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f}. `python benchmarks/line_service.py`",
        "",
        "| side | parts/s (median of rounds) | p50 ms | p99 ms | latency from capture to |",
        "| --- | --- | --- | --- | --- |",
        f"| bare `Detector.detect` loop | {b['parts_per_s']:.1f} | {b['p50_ms']:.2f} | {b['p99_ms']:.2f} | "
        "`detect` returned (capture = the frame's due time) |",
        f"| `grace-edge line`, MQTT sink | {s['parts_per_s']:.1f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
        "the event at `mosquitto_sub` (capture = the source hands the frame over) |",
        "",
        f"Throughput overhead {r['throughput_overhead']:+.1%} (goal <= 5%); p99 added {r['p99_added_ms']:+.2f} ms "
        f"(goal <= 2 ms). Events: {s['received']} received of {s['parts']} parts judged. Of the service's latency, "
        f"capture -> verdict made (before any sink) was p50 {s['judged_p50_ms']:.2f} / p99 {s['judged_p99_ms']:.2f} "
        "ms.",
    ]


def soak(args: argparse.Namespace, work: Path, port: int) -> None:
    frames = load_frames(args.images, 300)
    subscriber = Subscriber(port, "bench/events")
    n = int(args.minutes * 60 * args.fps)
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while not stop.wait(60.0):
            samples.append((round((time.monotonic() - start) / 60, 2), round(rss_mb(), 1)))

    load_before = os.getloadavg()
    threading.Thread(target=sample, daemon=True).start()
    samples.append((0.0, round(rss_mb(), 1)))
    result = service_round(args, work, port, "soak", frames, n, args.fps, subscriber)
    stop.set()
    samples.append((round(n / args.fps / 60, 2), round(rss_mb(), 1)))
    subscriber.close()
    lost = result["parts"] - result["received"]
    warm = samples[1][1] if len(samples) > 2 else samples[0][1]  # minute 1: model open, buffers and queues filled
    dup = sum(1 for c in subscriber.counts.values() if c > 1)
    report = {"settings": {k: str(v) for k, v in vars(args).items()}, "parts": result["parts"],
              "received": result["received"], "lost": lost, "duplicates": dup, "verdicts": result["verdicts"],
              "rss_mb": samples, "p50_ms": pct(result["latency_s"], 50), "p99_ms": pct(result["latency_s"], 99),
              "rss_warm_mb": warm, "rss_growth_mb": round(samples[-1][1] - warm, 1),
              "load_before": load_before, "load_after": os.getloadavg(), "cpus": os.cpu_count()}
    md = [
        "# Line service soak",
        "",
        f"{args.minutes:g} min at {args.fps:g} fps, model {args.model.name}, MQTT + JSONL sinks, mosquitto on "
        f"loopback. {os.cpu_count()} CPUs shared with other jobs, load {load_before[0]:.1f} -> "
        f"{report['load_after'][0]:.1f}. `python benchmarks/line_service.py --minutes {args.minutes:g}`",
        "",
        "| parts | received | lost | duplicates | RSS at 1 min MB | RSS at end MB | growth MB | p50 ms | p99 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {result['parts']} | {result['received']} | {lost} | {dup} | {warm} | {samples[-1][1]} | "
        f"{report['rss_growth_mb']:+.1f} | {report['p50_ms']:.2f} | {report['p99_ms']:.2f} |",
        "",
        "RSS (minute, MB; minute 0 is before the model is opened): " + ", ".join(f"{m:g}: {v}" for m, v in samples),
        "Latency: capture -> event received by mosquitto_sub (its own process) through the broker.",
    ]
    publish(args.tag or "line_service_soak", report, md)


def main() -> None:
    args = parse_args()
    if not args.model.is_file():
        raise SystemExit(f"{args.model}: not found; make it with 'grace-edge export --model grace-n --imgsz 128'")
    with tempfile.TemporaryDirectory(prefix="line-bench-") as tmp:
        broker = Broker(Path(tmp))
        try:
            (soak if args.minutes else benchmark)(args, Path(tmp), broker.port)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
