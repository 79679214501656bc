"""``grace-edge line`` as a real subprocess: SIGTERM mid-run drains and flushes (every captured frame has its verdict
in the JSONL log and on the broker), SIGKILL leaves the last will, and a bad config gives one line per problem."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from tests.helpers.line import Broker, Subscriber, line_config, part_events, wait_for

REPO = Path(__file__).resolve().parents[2]


def start_line(config: dict, tmp_path: Path) -> subprocess.Popen:
    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "grace_edge", "line", str(path)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def replay_config(tmp_path: Path, model: Path, neu_det: Path, broker: Broker, topic: str) -> dict:
    sinks = {"jsonl": {"path": "events.jsonl"}, "mqtt": {"port": broker.port, "topic_prefix": topic}}
    source = {"kind": "folder", "path": str(neu_det / "IMAGES"), "fps": 40, "loop": True}
    return line_config(tmp_path, model, source=source, sinks=sinks, queue={"size": 4, "in_flight": 2})


def test_sigterm_mid_run_every_captured_frame_has_a_verdict(tmp_path: Path, model: Path, neu_det: Path,
                                                            mosquitto: Broker) -> None:
    subscriber = Subscriber(mosquitto.port, "cli/events")
    process = start_line(replay_config(tmp_path, model, neu_det, mosquitto, "cli"), tmp_path)
    log = tmp_path / "events.jsonl"
    try:
        wait_for(lambda: log.exists() and len(part_events(log)) >= 20, 60.0, "20 verdicts in the log")
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output  # 0: every part was inspected
    events = part_events(log)
    seqs = sorted(e["seq"] for e in events)
    assert seqs == list(range(len(seqs))), "a captured frame has no verdict, or two"
    stopped = [json.loads(line) for line in log.read_text().splitlines() if '"event":"stopped"' in line]
    assert stopped and stopped[0]["detail"].startswith(f"{len(events)} parts: ")
    assert f"{len(events)} parts: " in output
    wait_for(lambda: len(subscriber.counts) == len(events), 10.0, "every event on the broker")
    subscriber.close()
    assert max(subscriber.counts.values()) == 1
    assert not list((tmp_path / "spool").glob("*.json"))  # flushed: every PUBACK came before exit


def test_sigkill_leaves_the_last_will_offline(tmp_path: Path, model: Path, neu_det: Path, mosquitto: Broker) -> None:
    process = start_line(replay_config(tmp_path, model, neu_det, mosquitto, "kill"), tmp_path)
    status = Subscriber(mosquitto.port, "kill/status", client_id="kill-status")
    try:
        wait_for(lambda: "online" in status.raw, 60.0, "the service's retained 'online'")
        process.kill()
        process.wait(10)
        wait_for(lambda: status.raw[-1:] == ["offline"], 60.0, "the broker's last will 'offline'")
    finally:
        status.close()
        if process.poll() is None:
            process.kill()


def test_a_bad_config_gives_one_line_per_problem(tmp_path: Path, model: Path) -> None:
    from grace_edge.cli import main

    config = line_config(tmp_path, model, queue={"policy": "drop-newest"}, sinks={"mqtt": {"port": "abc"}})
    config["model"]["workers"] = 0
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    env_out = subprocess.run([sys.executable, "-m", "grace_edge", "line", str(path)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    lines = env_out.stderr.strip().splitlines()
    assert env_out.returncode == 2 and len(lines) == 3, env_out.stderr
    assert all(line.startswith(f"grace-edge line: error: line config {path}: ") for line in lines)
    assert any("sinks.mqtt.port: 'abc' is not an integer" in line for line in lines)
    assert any("queue.policy: 'drop-newest' is not one of block, drop-oldest" in line for line in lines)
    assert any("model.workers: 0 is outside 1..64" in line for line in lines)
    assert "Traceback" not in env_out.stderr
    started = time.monotonic()
    assert main(["line", "--check", str(path)]) == 2 and time.monotonic() - started < 5


def test_a_missing_extra_says_which_to_install(tmp_path: Path, model: Path, neu_det: Path, monkeypatch,
                                               capsys) -> None:
    from grace_edge.cli import main

    config = line_config(tmp_path, model, source={"kind": "folder", "path": str(neu_det / "IMAGES"), "count": 1},
                         sinks={"mqtt": {"port": 1}})
    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)  # as if paho-mqtt were not installed
    assert main(["line", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == ("grace-edge line: error: this needs paho, which the lean runtime install leaves out: "
                   "pip install 'grace-edge[line]'")
