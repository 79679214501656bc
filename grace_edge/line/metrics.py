"""The line's Prometheus metrics (in its own registry, not prometheus-client's global one, so two services or a test
in one process never share counters) and the HTTP endpoint: ``/metrics`` for Prometheus, ``/healthz`` for a
supervisor (200 while the source and the backend are alive, 503 with the reason otherwise)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from grace_edge.errors import InputError

# capture -> delivered by a sink: 1 ms .. 10 s (a PLC cares about tens of ms; a spooled event may take minutes)
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class LineMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        p = "grace_edge_line_"
        self.frames = Counter(p + "frames", "frames captured from the source", registry=r)
        self.verdicts = Counter(p + "verdicts", "parts judged, by verdict", ["verdict"], registry=r)
        self.uninspected = Counter(p + "uninspected", "parts not inspected, by reason", ["reason"], registry=r)
        self.defects = Counter(p + "defects", "defects on rejected parts, by class", ["class_name"], registry=r)
        self.dropped = Counter(p + "dropped", "frames dropped by the drop-oldest queue (sent as uninspected)",
                               registry=r)
        self.queue_depth = Gauge(p + "queue_depth", "frames waiting for the detector", registry=r)
        self.in_flight = Gauge(p + "in_flight", "frames submitted to the detector and not yet judged", registry=r)
        self.latency = Histogram(p + "latency_seconds", "capture to event delivered by the sink", ["sink"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.source_stalls = Counter(p + "source_stalls", "times the source gave no frame for stall_s", registry=r)
        self.source_alive = Gauge(p + "source_alive", "1 while the source gives frames", registry=r)
        self.backend_alive = Gauge(p + "backend_alive", "1 while the detector backend is open", registry=r)
        self.backend_failures = Counter(p + "backend_failures", "detector errors that made the backend reopen",
                                        registry=r)
        self.sink_errors = Counter(p + "sink_errors", "events a sink failed to deliver", ["sink"], registry=r)
        self.sink_overflow = Counter(p + "sink_overflow", "events lost because a sink's queue or spool was full",
                                     ["sink"], registry=r)
        self.spool_depth = Gauge(p + "mqtt_spool_depth", "MQTT events on disk awaiting the broker's PUBACK",
                                 registry=r)

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value (0 if never set): for tests and the end-of-run summary."""
        found = self.registry.get_sample_value(name, labels)
        return float(found or 0.0)


def serve_http(metrics: LineMetrics, health: Callable[[], tuple[bool, str]], host: str, port: int
               ) -> ThreadingHTTPServer:
    """Start ``/metrics`` and ``/healthz`` on ``host:port`` (0: a free port, see ``server.server_port``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
            elif path == "/healthz":
                alive, why = health()
                body = json.dumps({"status": "ok" if alive else "unhealthy", "reason": why}).encode()
                self._reply(200 if alive else 503, "application/json", body)
            else:
                self._reply(404, "text/plain", b"/metrics or /healthz\n")

        def _reply(self, code: int, kind: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # scrapes every few seconds: not worth a log line each
            pass

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as err:
        raise InputError(f"http {host}:{port}: cannot listen ({err.strerror or err})") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), name="grace-edge-line-http", daemon=True).start()
    return server
