"""Helpers of the line tests (tests/line/): a mosquitto broker process the test can kill and restart, a paho
subscriber that counts events by part id, a source the test releases frame by frame, and config builders."""

from __future__ import annotations

import getpass
import json
import queue
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from grace_edge.runtime.sources import Frame


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Broker:
    """mosquitto with persistence saved on every change, so a SIGKILLed broker restarts with its sessions."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            # user: started as root, mosquitto would switch to user 'mosquitto', which cannot write our folder
            f"user {getpass.getuser()}\nlistener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nautosave_interval 1\nautosave_on_changes true\n"
            f"log_dest file {folder}/mosquitto.log\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_for(self._accepts, 10.0, f"mosquitto on port {self.port}")

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.process = None


class Subscriber:
    """A persistent-session paho subscriber (QoS 1) counting part events by part id.

    ``counts`` holds first deliveries only: a PUBLISH the broker itself redelivers (its DUP flag set: e.g. after a
    restart from its persistence file it resends what it had not yet recorded as acknowledged by this subscriber)
    goes to ``redelivered``. The DUP flag of the service's own PUBLISH is not passed on to subscribers (MQTT 3.1.1,
    3.3.1.1), so an event the service sent twice shows in ``counts`` as 2."""

    def __init__(self, port: int, topic: str, client_id: str = "grace-edge-test-subscriber") -> None:
        import paho.mqtt.client as mqtt

        self.counts: Counter[str] = Counter()
        self.messages: list[dict] = []
        self.raw: list[str] = []
        self.redelivered: Counter[str] = Counter()
        self.subscribed = threading.Event()
        self.lock = threading.Lock()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        client.reconnect_delay_set(min_delay=1, max_delay=1)
        client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        client.on_subscribe = lambda *_: self.subscribed.set()
        client.on_message = self._on_message
        client.connect("127.0.0.1", port)
        client.loop_start()
        self.client = client
        assert self.subscribed.wait(10), "the subscriber's SUBSCRIBE was not acknowledged"

    def _on_message(self, _client, _userdata, message) -> None:
        text = message.payload.decode()
        with self.lock:
            self.raw.append(text)
            if not text.startswith("{"):  # the status topic's online/offline
                return
            event = json.loads(text)
            self.messages.append(event)
            if "part_id" in event:
                (self.redelivered if message.dup else self.counts)[event["part_id"]] += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class GatedSource:
    """Frames the test releases: ``release(n)`` lets n more through, ``end()`` ends the source."""

    def __init__(self, images: list[np.ndarray]) -> None:
        self.images = images
        self._tickets: queue.Queue[int | None] = queue.Queue()

    def release(self, n: int) -> None:
        for _ in range(n):
            self._tickets.put(1)

    def end(self) -> None:
        self._tickets.put(None)

    def __call__(self, channels: int) -> Iterator[Frame]:
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        index = 0
        while self._tickets.get() is not None:
            yield Frame(f"frame_{index:04d}", self.images[index % len(self.images)])
            index += 1


def line_config(tmp_path: Path, model: Path, /, **sections: object) -> dict:
    """A config mapping with a JSONL sink and an ephemeral HTTP port; ``sections`` add or replace keys."""
    config: dict = {
        "line": "test",
        "model": {"path": str(model)},
        "source": {"kind": "folder", "path": str(tmp_path)},
        "verdict": {"thresholds": {"default": 0.5}},
        "sinks": {"jsonl": {"path": str(tmp_path / "events.jsonl")}},
        "http": {"port": 0},
        "drain_s": 10,
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def build(tmp_path: Path, model: Path, /, **sections: object):
    from grace_edge.line.config import parse_config

    return parse_config(line_config(tmp_path, model, **sections), "line config test.yaml", tmp_path)


def part_events(path: Path) -> list[dict]:
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in events if e["schema"] == "grace-edge/line-event/1"]
