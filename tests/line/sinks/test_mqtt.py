"""The MQTT sink against a real mosquitto: one event per part, exactly once, through a broker killed and restarted;
the spool outlives the service; the retained status topic and its last will."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tests.helpers.line import Broker, GatedSource, Subscriber, build, part_events, wait_for

from grace_edge.line.service import LineService

PREFIX = "plant/line-a"


def mqtt_config(tmp_path: Path, model: Path, broker: Broker, **extra: object):
    sinks = {"jsonl": {"path": str(tmp_path / "events.jsonl")},
             "mqtt": {"port": broker.port, "topic_prefix": PREFIX, "spool_dir": str(tmp_path / "spool")}}
    return build(tmp_path, model, sinks=sinks, **extra)


def spooled(tmp_path: Path) -> int:
    return len(list((tmp_path / "spool").glob("*.json")))


def test_broker_killed_mid_run_every_part_arrives_exactly_once(tmp_path: Path, model: Path, mosquitto: Broker,
                                                              neu_frames) -> None:
    subscriber = Subscriber(mosquitto.port, f"{PREFIX}/events")
    source = GatedSource(neu_frames)
    service = LineService(mqtt_config(tmp_path, model, mosquitto), source_factory=source)
    service.start()
    summary_box: list = []
    waiter = threading.Thread(target=lambda: summary_box.append(service.wait()))
    waiter.start()
    try:
        source.release(10)
        wait_for(lambda: len(subscriber.counts) == 10 and spooled(tmp_path) == 0, what="the first 10 events")
        mosquitto.kill()  # SIGKILL: no goodbye to anyone
        source.release(15)
        wait_for(lambda: service.captured == 25 and spooled(tmp_path) == 15, what="15 events in the spool")
        assert service.metrics.value("grace_edge_line_mqtt_spool_depth") == 15
        assert len(subscriber.counts) == 10  # nothing reached anyone while the broker was down
        mosquitto.start()
        wait_for(lambda: len(subscriber.counts) == 25, 30.0, "the spooled events after the restart")
        source.release(5)
        source.end()
        waiter.join(30)
    finally:
        source.end()
        service.stop()
        waiter.join(30)
        subscriber.close()
    expected = {e["part_id"] for e in part_events(tmp_path / "events.jsonl")}
    assert len(expected) == 30 == summary_box[0].captured
    assert set(subscriber.counts) == expected
    assert max(subscriber.counts.values()) == 1, "a part's event arrived twice"
    assert spooled(tmp_path) == 0
    assert service.metrics.value("grace_edge_line_latency_seconds_count", sink="mqtt") == 30


def test_the_spool_survives_a_restart_of_the_service(tmp_path: Path, model: Path, mosquitto: Broker,
                                                    neu_frames) -> None:
    mosquitto.kill()  # the broker is away for the whole first run
    source = GatedSource(neu_frames)
    first = LineService(mqtt_config(tmp_path, model, mosquitto, drain_s=1), source_factory=source)
    first.start()
    source.release(6)
    source.end()
    assert first.wait().captured == 6
    assert spooled(tmp_path) == 6  # not acknowledged: kept on disk for the next start
    mosquitto.start()
    subscriber = Subscriber(mosquitto.port, f"{PREFIX}/events", client_id="spool-restart")
    try:
        empty = GatedSource(neu_frames)
        empty.end()
        second = LineService(mqtt_config(tmp_path, model, mosquitto), source_factory=empty)
        second.start()
        second.wait()
        wait_for(lambda: len(subscriber.counts) == 6, what="the earlier run's events")
    finally:
        subscriber.close()
    assert set(subscriber.counts) == {e["part_id"] for e in part_events(tmp_path / "events.jsonl")}
    assert max(subscriber.counts.values()) == 1 and spooled(tmp_path) == 0


@pytest.mark.parametrize("clean", [True, False])
def test_status_is_retained_online_then_offline_by_goodbye_or_last_will(tmp_path: Path, model: Path,
                                                                       mosquitto: Broker, clean: bool) -> None:
    import socket

    from grace_edge.line.metrics import LineMetrics
    from grace_edge.line.sinks.mqtt import MqttSink

    sink = MqttSink(mqtt_config(tmp_path, model, mosquitto).mqtt, LineMetrics(), "test")
    sink.start()
    wait_for(lambda: sink._connected, what="the sink's connection")
    late = Subscriber(mosquitto.port, f"{PREFIX}/status", client_id=f"status-{clean}")  # joins after: retained
    try:
        wait_for(lambda: late.raw == ["online"], what="the retained 'online'")
        if clean:
            assert sink.close(2.0)
        else:  # the connection dies without a DISCONNECT (as when the process is killed): the broker sends the will
            sink.client.reconnect_delay_set(min_delay=60, max_delay=60)
            sink.client.socket().shutdown(socket.SHUT_RDWR)
        wait_for(lambda: late.raw[-1:] == ["offline"], 30.0, "'offline'")
    finally:
        late.close()
        sink.client.loop_stop()
