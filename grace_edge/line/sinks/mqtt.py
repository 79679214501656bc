"""MQTT sink (paho-mqtt 2.x): one JSON event per part on ``<prefix>/events`` at QoS 1, service events on
``<prefix>/service``, and a retained ``<prefix>/status`` (``online``; the broker publishes the last will ``offline``
if the service dies without saying goodbye).

None lost: every part event is first written to the spool folder (one file per event, atomically, named by its part
id), then published; its file is removed only when the broker's PUBACK arrives. While the broker is away paho holds
the events and sends them on reconnect; after a restart the spool's files are sent first. None sent twice by the
service: each spool file is handed to paho once per run. (QoS 1 is at-least-once on the wire: if the broker dies
after forwarding an event but before its PUBACK reaches us, the event is sent again after reconnect; the part id is
the key a consumer de-duplicates on.)
"""

from __future__ import annotations

import json
import os
import queue
import time
from pathlib import Path

from grace_edge.io import write_bytes
from grace_edge.line.config import MqttConfig
from grace_edge.line.metrics import LineMetrics
from grace_edge.line.sinks.base import Item, Sink, log

ONLINE, OFFLINE = "online", "offline"


class Spool:
    """Pending part events on disk: ``<ns time>-<part id>.json``, oldest first, at most ``limit`` of them."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder = folder
        self.limit = limit
        folder.mkdir(parents=True, exist_ok=True)
        self.count = len(self.pending())

    def pending(self) -> list[Path]:
        return sorted(self.folder.glob("*.json"))

    def add(self, part_id: str, payload: bytes) -> Path | None:
        """The new file, or None when the spool is full."""
        if self.count >= self.limit:
            return None
        path = write_bytes(self.folder / f"{time.time_ns():020d}-{part_id}.json", payload)
        self.count += 1
        return path

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.count -= 1


class MqttSink(Sink):
    name = "mqtt"

    def __init__(self, config: MqttConfig, metrics: LineMetrics, line: str) -> None:
        super().__init__(metrics, config.queue)
        self.config = config
        prefix = config.topic_prefix
        self.events_topic, self.service_topic, self.status_topic = (f"{prefix}/events", f"{prefix}/service",
                                                                    f"{prefix}/status")
        self.client_id = config.client_id or f"grace-edge-{line}-{os.getpid()}"
        self._acks: queue.SimpleQueue[tuple[int, float]] = queue.SimpleQueue()
        self._pending: dict[int, tuple[Path | None, float | None]] = {}  # mid -> (spool file, capture time)
        self._connected = False
        self._closing = False
        self.spool = Spool(Path(config.spool_dir), config.spool_max)

    def open(self) -> None:
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv311)
        client.will_set(self.status_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.max_queued_messages_set(0)  # bounded by the spool instead
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = lambda _c, _u, mid, _rc, _p: self._acks.put((mid, time.perf_counter()))
        self.client = client
        client.connect_async(self.config.host, self.config.port, self.config.keepalive)
        client.loop_start()  # paho's thread connects, and reconnects after each loss, with the delay above
        left = self.spool.pending()
        if left:
            log.info("sink mqtt: %d event(s) left in %s by an earlier run go out first", len(left), self.spool.folder)
        for path in left:
            self._publish(self.events_topic, path.read_bytes(), path, None)
        self.metrics.spool_depth.set(self.spool.count)

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            self.warn(f"broker {self.config.host}:{self.config.port} refused the connection: {reason_code}")
            return
        self._connected = True
        log.info("sink mqtt: connected to %s:%d", self.config.host, self.config.port)
        client.publish(self.status_topic, ONLINE, qos=1, retain=True)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        if self._connected and not self._closing:
            self.warn(f"lost the broker ({reason_code}); events spool in {self.spool.folder} until it is back")
        self._connected = False

    def handle(self, item: Item) -> None:
        payload = json.dumps(item.event, separators=(",", ":")).encode()
        if not item.is_part:
            self._publish(self.service_topic, payload, None, None)
            return
        path = self.spool.add(item.event["part_id"], payload)
        if path is None:
            self.metrics.sink_overflow.labels(self.name).inc()
            self.warn(f"spool full ({self.spool.limit} events in {self.spool.folder}): event "
                      f"{item.event['part_id']} lost for MQTT (the other sinks have it)")
            return
        self._publish(self.events_topic, payload, path, item.captured_mono)
        self.idle()

    def _publish(self, topic: str, payload: bytes, path: Path | None, captured: float | None) -> None:
        info = self.client.publish(topic, payload, qos=1)
        self._pending[info.mid] = (path, captured)  # acks are matched on this thread only, so after this line
        self.metrics.spool_depth.set(self.spool.count)

    def idle(self) -> None:
        """Match the PUBACKs that came in: their spool files go."""
        while True:
            try:
                mid, at = self._acks.get_nowait()
            except queue.Empty:
                break
            path, captured = self._pending.pop(mid, (None, None))
            if path is not None:
                self.spool.remove(path)
                self.delivered(captured, at)
        self.metrics.spool_depth.set(self.spool.count)

    @property
    def unacked(self) -> int:
        return sum(1 for path, _ in self._pending.values() if path is not None)

    def flush(self, deadline: float) -> None:
        while self.unacked and time.monotonic() < deadline:
            time.sleep(0.02)
            self.idle()
        if self.unacked:
            log.warning("sink mqtt: %d event(s) not acknowledged by the broker stay in %s and go out at the next "
                        "start", self.unacked, self.spool.folder)

    def shutdown(self) -> None:
        self._closing = True
        if self._connected:  # a clean goodbye: the broker then does not publish the will
            info = self.client.publish(self.status_topic, OFFLINE, qos=1, retain=True)
            info.wait_for_publish(timeout=2.0)
        self.client.disconnect()
        self.client.loop_stop()
