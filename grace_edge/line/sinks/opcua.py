"""OPC UA sink (asyncua), in one of two modes:

- ``server``: grace-edge serves the nodes a PLC or SCADA reads, under ``Objects/GraceEdgeLine`` with string node ids
  ``ns=<namespace index>;s=<line>.<Field>`` (PartId, Verdict, Reason, Defects, Parts, Ok, Reject, Uninspected);
- ``client``: grace-edge writes the PLC's own nodes (``sinks.opcua.nodes`` maps a field to a node id), each in the
  data type the PLC declared for it (read once at connect: a PLC refuses an Int64 written to its Int32).

Both write all fields of a part in one call, so a reader never sees a verdict next to another part's id. In client
mode a PLC that goes away is reconnected at the next event (errors counted in grace_edge_line_sink_errors); OPC UA
carries the latest state, so a missed write is superseded by the next part's, and the JSONL log keeps the history.
"""

from __future__ import annotations

import time
from typing import Any

from grace_edge.line.config import OpcuaConfig
from grace_edge.line.metrics import LineMetrics
from grace_edge.line.sinks.base import Item, Sink, log
from grace_edge.line.verdict import OK, REJECT, UNINSPECTED

# field -> (node name in server mode, OPC UA type name in server mode)
FIELDS = {
    "part_id": ("PartId", "String"),
    "verdict": ("Verdict", "String"),
    "reason": ("Reason", "String"),
    "defects": ("Defects", "Int32"),
    "parts": ("Parts", "UInt64"),
    "ok": ("Ok", "UInt64"),
    "reject": ("Reject", "UInt64"),
    "uninspected": ("Uninspected", "UInt64"),
}
RETRY_S = 1.0


class OpcuaSink(Sink):
    name = "opcua"

    def __init__(self, config: OpcuaConfig, metrics: LineMetrics, line: str) -> None:
        super().__init__(metrics, config.queue)
        self.config = config
        self.line = line
        self.counts = {"parts": 0, OK: 0, REJECT: 0, UNINSPECTED: 0}
        self._server: Any = None
        self._client: Any = None
        self._targets: list[tuple[str, Any, Any]] = []  # (field, node or node id, variant type)
        self._next_try = 0.0

    def open(self) -> None:
        if self.config.mode == "server":
            self._start_server()
        else:
            self._connect()  # the PLC must be there at start-up; later losses are retried

    def node_id(self, field: str) -> str:
        """The string node id of ``field`` in server mode."""
        return f"ns={self._ns};s={self.line}.{FIELDS[field][0]}"

    def _start_server(self) -> None:
        from asyncua import ua
        from asyncua.sync import Server

        server = Server()
        try:
            server.set_endpoint(self.config.endpoint)
            server.set_server_name(f"grace-edge line {self.line}")
            self._ns = server.register_namespace(self.config.namespace)
            folder = server.nodes.objects.add_object(f"ns={self._ns};s={self.line}", "GraceEdgeLine")
            for field, (_, kind) in FIELDS.items():
                vtype = getattr(ua.VariantType, kind)
                initial = "" if kind == "String" else 0
                node = folder.add_variable(self.node_id(field), FIELDS[field][0], ua.Variant(initial, vtype))
                self._targets.append((field, node.nodeid, vtype))
            server.start()
        except BaseException:
            server.stop()
            raise
        self._server = server
        log.info("sink opcua: serving %s (namespace %d)", self.config.endpoint, self._ns)

    def _connect(self) -> None:
        from asyncua.sync import Client

        client = Client(self.config.endpoint, timeout=4)
        client.connect()
        try:
            targets = []
            for field, node_id in self.config.nodes.items():
                node = client.get_node(node_id)
                targets.append((field, node, node.read_data_type_as_variant_type()))
        except BaseException:
            client.disconnect()
            raise
        self._client, self._targets = client, targets
        log.info("sink opcua: writing %d node(s) of %s", len(targets), self.config.endpoint)

    def values(self, event: dict[str, Any]) -> dict[str, Any]:
        self.counts["parts"] += 1
        self.counts[event["verdict"]] += 1
        return {"part_id": event["part_id"], "verdict": event["verdict"], "reason": event["reason"],
                "defects": len(event["defects"]), **self.counts}

    def handle(self, item: Item) -> None:
        if not item.is_part:
            return
        values = self.values(item.event)
        if self._server is not None:
            self._server.tloop.post(self._write_server(values))
        else:
            self._write_client(values)
        self.delivered(item)

    async def _write_server(self, values: dict[str, Any]) -> None:
        from asyncua import ua

        for field, node_id, vtype in self._targets:
            value = ua.DataValue(ua.Variant(values[field], vtype))
            await self._server.aio_obj.write_attribute_value(node_id, value)

    def _write_client(self, values: dict[str, Any]) -> None:
        from asyncua import ua

        if self._client is None:
            if time.monotonic() < self._next_try:
                raise ConnectionError(f"{self.config.endpoint} is not connected (next try within {RETRY_S:.0f} s)")
            self._next_try = time.monotonic() + RETRY_S
            self._connect()
        nodes = [node for _, node, _ in self._targets]
        variants = [ua.Variant(_as(values[field], vtype), vtype) for field, _, vtype in self._targets]
        try:
            self._client.write_values(nodes, variants)
        except Exception:
            self._drop_client()
            raise

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        try:
            client.disconnect()
        except Exception:  # noqa: BLE001 (it is already gone)
            pass

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self._client is not None:
            self._drop_client()


def _as(value: Any, vtype: Any) -> Any:
    """``value`` as the Python type the PLC's variant type wants (a count written to a Double node, a verdict to a
    String)."""
    from asyncua import ua

    if vtype == ua.VariantType.String:
        return str(value)
    if vtype in (ua.VariantType.Float, ua.VariantType.Double):
        return float(value)
    if vtype == ua.VariantType.Boolean:
        return bool(value) if not isinstance(value, str) else value != OK  # a bool verdict: True = do not pass
    return int(value) if not isinstance(value, str) else value
