"""Client-side checks that run inside the Triton environment (numpy < 2, tritonclient), driven by
test_triton_server.py, which runs in the main environment and compares what this script writes.

    python triton_checks.py configs OUT.json CONFIG.pbtxt...     parse each as a Triton ModelConfig proto
    python triton_checks.py clients OUT.npz ARGS.json            8 concurrent RemoteDetectors, errors, metrics, SIGTERM
    python triton_checks.py restart OUT.json REPO                a server restarts under open RemoteDetectors
    python triton_checks.py faults OUT.json REPO ONNX            SIGKILL mid-stream, restart: whole results or errors

Not collected by pytest (no ``test_`` prefix): it needs tritonclient, which the main environment does not have.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np


def parse_configs(out: Path, paths: list[str]) -> None:
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2

    parsed = {}
    for path in paths:
        config = text_format.Parse(Path(path).read_text(), model_config_pb2.ModelConfig())
        parsed[path] = json_format.MessageToDict(config, preserving_proto_field_name=True)
    out.write_text(json.dumps(parsed))


def metric(text: str, name: str, model: str) -> int:
    total = 0
    for m in re.finditer(rf'^{name}{{model="{model}",version="\d+"}} (\d+)', text, re.M):
        total += int(m.group(1))
    return total


def clients(out: Path, args: dict) -> None:
    import urllib.request

    from grace_edge.errors import GraceEdgeError, InputError
    from grace_edge.runtime import Detector
    from grace_edge.runtime.triton_backend import RemoteDetector

    def metrics() -> str:
        with urllib.request.urlopen(args["metrics"], timeout=5) as r:
            return r.read().decode()

    data = np.load(args["images"])
    images = [data[f"image_{i}"] for i in range(int(data["count"]))]
    fake_images = [data[f"fake_{i}"] for i in range(int(data["fake_count"]))]
    results: dict[str, np.ndarray] = {}
    report: dict[str, object] = {}

    # 8 line controllers at once, half over gRPC, half over HTTP, one frame per call
    urls = [args["grpc"] if i % 2 == 0 else args["http"] for i in range(8)]
    detectors = [Detector.open(f"{u}/{args['model']}") for u in urls]
    report["types"] = sorted({type(d).__name__ for d in detectors})
    errors: list[str] = []
    start = threading.Barrier(len(detectors))

    def run(k: int) -> None:
        try:
            start.wait()
            for i, image in enumerate(images):
                results[f"client{k}_{i}"] = detectors[k].detect_arrays(image)[0]
            found = detectors[k].submit(images[:3]).result()
            results[f"client{k}_submit_classes"] = np.array([d.class_id for d in found[0]], np.int64)
        except Exception as e:  # reported to the test, which fails with it
            errors.append(f"client {k}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(detectors))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report["seconds_8_clients"] = time.perf_counter() - t0
    report["errors"] = errors
    expected = len(detectors) * (len(images) + 3)
    deadline = time.monotonic() + 10
    while True:  # Triton updates its counters just after it answers: wait until every inference is counted
        m = metrics()
        if metric(m, "nv_inference_count", args["model"]) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    report["inference_count"] = metric(m, "nv_inference_count", args["model"])
    report["exec_count"] = metric(m, "nv_inference_exec_count", args["model"])
    report["version"] = detectors[0].version

    # bad input: the same InputError as the embedded Detector, raised before anything is sent
    before = metric(metrics(), "nv_inference_request_success", args["model"]) + \
        metric(metrics(), "nv_inference_request_failure", args["model"])
    bad = {}
    for label, value in (("size", np.zeros((10, 10), np.uint8)), ("dtype", images[0].astype(np.float32)),
                         ("empty", [])):
        try:
            detectors[0].detect(value)
            bad[label] = "no error"
        except InputError as e:
            bad[label] = str(e)
    after = metric(metrics(), "nv_inference_request_success", args["model"]) + \
        metric(metrics(), "nv_inference_request_failure", args["model"])
    report["bad_input"] = bad
    report["requests_sent_by_bad_input"] = after - before
    for d in detectors:
        d.close()

    # a batch above the server's max batch is split, over both protocols
    for scheme in ("grpc", "http"):
        with RemoteDetector.open(f"{args[scheme]}/{args['fake_model']}", conf=0.25, workers=2) as det:
            report[f"fake_max_batch_{scheme}"] = det.max_batch
            for i, rows in enumerate(det.detect_arrays(fake_images)):
                results[f"fake_{scheme}_{i}"] = rows

    # the server goes away: one clear line, and no result at all
    det = RemoteDetector.open(f"{args['grpc']}/{args['model']}", retries=2)
    os.kill(int(args["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + 30
    gone = None
    while gone is None and time.monotonic() < deadline:
        try:
            det.detect_arrays(images[:2])
            time.sleep(0.2)
        except GraceEdgeError as e:
            gone = f"{type(e).__name__}: {e}"
    report["gone"] = gone
    det.close()
    np.savez(out, **results)
    out.with_suffix(".json").write_text(json.dumps(report))


def restart(out: Path, repo: str) -> None:
    """Open detectors, restart the server on the same ports, detect again with the same detectors."""
    from grace_edge.serve.local_triton import free_ports, start_local_triton

    env, log = Path(sys.prefix), out.with_suffix(".log")
    ports = tuple(free_ports(3))
    frame = [np.random.default_rng(0).integers(0, 256, (48, 64), np.uint8)]
    report: dict[str, object] = {}
    server = start_local_triton(Path(repo), env, log, ports=ports)  # type: ignore[arg-type]
    from grace_edge.runtime import Detector

    detectors = {s: Detector.open(f"{u}/fake", conf=0.25) for s, u in
                 (("grpc", server.grpc_url), ("http", server.http_url))}
    first = {s: d.detect_arrays(frame)[0] for s, d in detectors.items()}
    server.stop()
    server = start_local_triton(Path(repo), env, log, ports=ports)  # type: ignore[arg-type]
    try:
        for s, d in detectors.items():
            report[s] = bool(np.array_equal(d.detect_arrays(frame)[0], first[s])) and len(first[s]) > 0
            d.close()
    finally:
        server.stop()
    out.write_text(json.dumps(report))


def _stream(det, call: str, batches: list, expected: list, stop: threading.Event, log: list) -> None:
    """Send batches until ``stop``; log each call's (start, end, outcome, detail)."""
    from grace_edge.errors import GraceEdgeError

    i = 0
    while not stop.is_set():
        k = i % len(batches)
        i += 1
        t0 = time.monotonic()
        try:
            if call == "submit":
                got = [np.array([d.box + (d.score, d.class_id) for d in im], np.float32).reshape(-1, 6)
                       for im in det.submit(batches[k]).result()]
            else:
                got = det.detect_arrays(batches[k])
        except GraceEdgeError as e:
            log.append((t0, time.monotonic(), "error", f"{type(e).__name__}: {e}"))
            time.sleep(0.05)  # a line controller's pause before the next frame
            continue
        except Exception as e:  # anything else is what the test forbids: it reports it
            log.append((t0, time.monotonic(), "foreign", f"{type(e).__name__}: {e}"))
            continue
        whole = len(got) == len(expected[k]) and all(np.array_equal(g, w) for g, w in zip(got, expected[k]))
        log.append((t0, time.monotonic(), "whole" if whole else "half",
                    "" if whole else f"batch {k}: {len(got)} results for {len(expected[k])} images"))


def faults(out: Path, repo: str, onnx: str) -> None:
    """The server is SIGKILLed while 4 callers stream batches at it, then started again on the same ports: each
    batch returns a whole, correct result or raises one GraceEdgeError; the same detectors then work again."""
    from grace_edge.runtime import Detector
    from grace_edge.serve.local_triton import free_ports, start_local_triton

    env, server_log = Path(sys.prefix), out.with_suffix(".log")
    ports = tuple(free_ports(3))
    rng = np.random.default_rng(0)
    batches = [[rng.integers(0, 256, (48, 64), np.uint8) for _ in range(n)] for n in (1, 5, 19)]  # 19: 3 requests
    with Detector.open(onnx, conf=0.25) as local:
        expected = [local.detect_arrays(b) for b in batches]
    server = start_local_triton(Path(repo), env, server_log, ports=ports)  # type: ignore[arg-type]
    detectors = {s: Detector.open(f"{u}/fake", conf=0.25, workers=2) for s, u in
                 (("grpc", server.grpc_url), ("http", server.http_url))}
    streams = {f"{s}-{call}": (d, call) for s, d in detectors.items() for call in ("detect", "submit")}
    logs: dict[str, list] = {name: [] for name in streams}
    stop = threading.Event()
    threads = [threading.Thread(target=_stream, args=(d, call, batches, expected, stop, logs[name]))
               for name, (d, call) in streams.items()]

    def whole_since(t: float) -> int:
        return min(sum(1 for start, _, what, _ in log if what == "whole" and start > t) for log in logs.values())

    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while whole_since(0) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        killed = time.monotonic()
        server.process.kill()  # SIGKILL: no draining, connections cut mid-request
        server.stop()
        time.sleep(1.0)
        server = start_local_triton(Path(repo), env, server_log, ports=ports)  # type: ignore[arg-type]
        restarted = time.monotonic()
        deadline = restarted + 60
        while whole_since(restarted) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        for d in detectors.values():
            d.close()
        server.stop()
    report = {
        "in_flight_at_kill": sum(1 for log in logs.values() for start, end, _, _ in log if start < killed < end),
        "whole_before_kill": {n: sum(1 for s0, _, w, _ in log if w == "whole" and s0 < killed) for n, log in logs.items()},
        "whole_after_restart": {n: sum(1 for s0, _, w, _ in log if w == "whole" and s0 > restarted)
                                for n, log in logs.items()},
        "errors": sorted({detail for log in logs.values() for _, _, w, detail in log if w == "error"}),
        "forbidden": [f"{n}: {w}: {detail}" for n, log in logs.items() for _, _, w, detail in log
                      if w in ("half", "foreign")],
        "calls": sum(len(log) for log in logs.values()),
    }
    out.write_text(json.dumps(report))


if __name__ == "__main__":
    command, out = sys.argv[1], Path(sys.argv[2])
    if command == "configs":
        parse_configs(out, sys.argv[3:])
    elif command == "restart":
        restart(out, sys.argv[3])
    elif command == "faults":
        faults(out, sys.argv[3], sys.argv[4])
    else:
        clients(out, json.loads(Path(sys.argv[3]).read_text()))
