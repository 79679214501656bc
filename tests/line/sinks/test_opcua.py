"""The OPC UA sink with asyncua's own client and server: grace-edge as the server a PLC reads, and as the client that
writes the PLC's nodes in the PLC's own data types."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.helpers.line import GatedSource, build, free_port, wait_for

from grace_edge.line.service import LineService


def run_gated(service: LineService) -> threading.Thread:
    service.start()
    waiter = threading.Thread(target=service.wait)
    waiter.start()
    return waiter


def test_server_mode_a_plc_reads_the_verdict_and_counters(tmp_path: Path, model: Path, neu_frames) -> None:
    from asyncua.sync import Client

    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/grace-edge/"
    source = GatedSource(neu_frames)
    config = build(tmp_path, model, sinks={"jsonl": {"path": str(tmp_path / "e.jsonl")},
                                           "opcua": {"mode": "server", "endpoint": endpoint}})
    service = LineService(config, source_factory=source)
    waiter = run_gated(service)
    try:
        source.release(4)
        wait_for(lambda: service.tally["reject"] == 4, what="4 verdicts")
        sink = next(s for s in service.sinks if s.name == "opcua")
        wait_for(lambda: sink.counts["parts"] == 4 and sink._queue.empty(), what="the OPC UA writes")
        with Client(endpoint) as plc:
            ns = plc.get_namespace_index("urn:grace-edge:line")
            read = {name: plc.get_node(f"ns={ns};s=test.{name}").read_value()
                    for name in ("PartId", "Verdict", "Reason", "Defects", "Parts", "Ok", "Reject", "Uninspected")}
    finally:
        source.end()
        service.stop()
        waiter.join(30)
    assert read["Verdict"] == "reject" and read["Reason"] == ""
    assert read["PartId"].endswith("-00000003") and read["Defects"] == 2  # crazing 0.9, pitted_surface 0.6
    assert (read["Parts"], read["Ok"], read["Reject"], read["Uninspected"]) == (4, 0, 4, 0)


def test_client_mode_writes_the_plcs_nodes_in_their_types(tmp_path: Path, model: Path, neu_frames) -> None:
    from asyncua import ua
    from asyncua.sync import Server

    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/plc/"
    plc = Server()
    plc.set_endpoint(endpoint)
    ns = plc.register_namespace("urn:test:plc")
    db = plc.nodes.objects.add_object(f"ns={ns};s=DB1", "DB1")
    nodes = {
        "part_id": db.add_variable(f"ns={ns};s=DB1.Part", "Part", ""),
        "verdict": db.add_variable(f"ns={ns};s=DB1.Reject", "Reject", False),  # a PLC bit: True = do not pass
        "parts": db.add_variable(f"ns={ns};s=DB1.Count", "Count", ua.Variant(0, ua.VariantType.Int32)),
    }
    for node in nodes.values():
        node.set_writable()
    plc.start()
    try:
        config = build(tmp_path, model, sinks={
            "jsonl": {"path": str(tmp_path / "e.jsonl")},
            "opcua": {"mode": "client", "endpoint": endpoint,
                      "nodes": {field: node.nodeid.to_string() for field, node in nodes.items()}}})
        source = GatedSource(neu_frames)
        service = LineService(config, source_factory=source)
        service.start()
        source.release(3)
        source.end()
        service.wait()
        assert service.metrics.value("grace_edge_line_sink_errors_total", sink="opcua") == 0
        assert nodes["parts"].read_value() == 3
        assert nodes["parts"].read_data_type_as_variant_type() == ua.VariantType.Int32
        assert nodes["verdict"].read_value() is True and nodes["part_id"].read_value().endswith("-00000002")
    finally:
        plc.stop()
