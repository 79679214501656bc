"""The line's sinks, one file each; :func:`make_sinks` builds those the config names."""

from __future__ import annotations

from grace_edge.line.config import LineConfig
from grace_edge.line.metrics import LineMetrics
from grace_edge.line.sinks.base import Item, Sink

__all__ = ["Item", "Sink", "make_sinks"]


def make_sinks(config: LineConfig, metrics: LineMetrics) -> list[Sink]:
    sinks: list[Sink] = []
    if config.jsonl:
        from grace_edge.line.sinks.jsonl import JsonlSink

        sinks.append(JsonlSink(config.jsonl, metrics))
    if config.mqtt:
        from grace_edge.line.sinks.mqtt import MqttSink

        sinks.append(MqttSink(config.mqtt, metrics, config.name))
    if config.opcua:
        from grace_edge.line.sinks.opcua import OpcuaSink

        sinks.append(OpcuaSink(config.opcua, metrics, config.name))
    if config.frames:
        from grace_edge.line.sinks.frames import FramesSink

        sinks.append(FramesSink(config.frames, metrics))
    return sinks
