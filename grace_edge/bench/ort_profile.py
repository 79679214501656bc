"""Where an ONNX Runtime run spends its time: ORT's own profiler (``SessionOptions.enable_profiling``), its per-node
kernel times grouped by op type and by region of the detector graph.

Regions come from the *source* graph (the one given to ORT), by structure and by the exporter's layer names:
preprocess (before the first convolution, :func:`grace_edge.engine.precision.find_regions`), backbone, neck and
Lite-FEN (by the layer index in ``/model/model.<i>/``, the layer's place in the architecture from
:func:`grace_edge.model.build.model_yaml`), head (the Detect layer's feature convolutions), decode (after the head's
last convolutions: DFL, anchors, sigmoid), top-K + NMS (``/postprocess/``) and Q/DQ boundaries (Quantize/Dequantize
nodes ORT left unfused). ORT renames the nodes it rewrites (``<name>_nchwc``, ``<name>_token_12``, fusions keep the
name as a prefix), so an event is charged to the longest source node name that prefixes it. Nodes ORT *adds* with
names of its own (layout Transposes of the NHWC transform, NCHWc reorders) are charged to the region of the node
that ran just before them: the sequential executor runs in graph order, so that is their neighbour.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

REGIONS = ("preprocess", "backbone", "neck", "Lite-FEN", "head", "decode", "top-K + NMS", "Q/DQ boundaries", "other")
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
_LAYER = re.compile(r"^/model/model\.(\d+)/")
_KERNEL = "_kernel_time"


def layer_roles(name: str = "grace-n") -> dict[int, str]:
    """Layer index -> backbone / neck / Lite-FEN / head, from the architecture's model dict."""
    from grace_edge.model.build import model_yaml

    cfg = model_yaml(name)
    layers = [*cfg["backbone"], *cfg["head"]]
    roles = {}
    for i, layer in enumerate(layers):
        module = layer[2]
        roles[i] = ("backbone" if i < len(cfg["backbone"]) else "Lite-FEN" if module == "LiteFEN"
                    else "head" if module == "Detect" else "neck")
    return roles


def node_regions(model: Any, roles: dict[int, str] | None = None) -> dict[str, str]:
    """Source node name -> region (see the module doc) for a grace-edge ONNX graph (FP32 or Q/DQ)."""
    from grace_edge.engine.precision import find_regions, name_nodes

    name_nodes(model)
    roles = roles if roles is not None else layer_roles()
    regions = find_regions(model)
    out = {}
    for n in model.graph.node:
        layer = _LAYER.match(n.name)
        if n.op_type in QDQ_OPS:
            out[n.name] = "Q/DQ boundaries"
        elif n.name in regions.preprocess or n.name.startswith("/preprocess/"):
            out[n.name] = "preprocess"
        elif n.name.startswith("/postprocess/"):
            out[n.name] = "top-K + NMS"
        elif n.name in regions.decode:
            out[n.name] = "decode"
        elif layer:
            out[n.name] = roles.get(int(layer.group(1)), "other")
        else:
            out[n.name] = "other"
    return out


@dataclass
class Profile:
    """Kernel time per run (ms), grouped: the sum of the nodes' median times over ``runs`` profiled runs."""

    runs: int
    by_region: dict[str, float] = field(default_factory=dict)
    by_op: dict[str, float] = field(default_factory=dict)
    op_calls: dict[str, int] = field(default_factory=dict)
    by_region_op: dict[str, dict[str, float]] = field(default_factory=dict)
    unmatched: int = 0  # nodes charged to a neighbour's region (ORT-made nodes)

    @property
    def total_ms(self) -> float:
        return sum(self.by_region.values())

    def to_dict(self) -> dict[str, Any]:
        r = lambda d: {k: round(v, 3) for k, v in sorted(d.items(), key=lambda kv: -kv[1])}  # noqa: E731
        return {"runs": self.runs, "total_ms": round(self.total_ms, 3), "by_region": r(self.by_region),
                "by_op": r(self.by_op), "op_calls": self.op_calls, "unmatched_events": self.unmatched,
                "by_region_op": {k: r(v) for k, v in self.by_region_op.items()}}


def source_name(event: str, names: Sequence[str]) -> str | None:
    """The longest of ``names`` that prefixes ``event`` (ORT keeps a rewritten node's name as a prefix), or None for
    a node ORT made up."""
    return max((n for n in names if event.startswith(n)), key=len, default=None)


def group_events(events: list[dict[str, Any]], regions: dict[str, str], runs: int) -> Profile:
    """Group ORT profile ``events`` (``runs`` runs, in execution order) by region and op, in ms per run.

    Each node's time is its median over the runs (a run preempted by another process on a shared CPU does not
    move it); a group's time is the sum of its nodes' medians."""
    import numpy as np

    names, matched = sorted(regions), {}
    prof = Profile(runs)
    durations: dict[str, list[float]] = defaultdict(list)
    node_group: dict[str, tuple[str, str]] = {}
    previous = "preprocess"
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith(_KERNEL):
            continue
        node, op = e["name"][: -len(_KERNEL)], e["args"].get("op_name", "?")
        if node not in matched:
            matched[node] = source_name(node, names)
        src = matched[node]
        if node not in node_group:
            region = "Q/DQ boundaries" if op in QDQ_OPS else regions[src] if src else previous
            node_group[node] = (region, op)
            prof.unmatched += src is None and op not in QDQ_OPS
        previous = node_group[node][0] if src else previous
        durations[node].append(e["dur"] / 1e3)
    by_region: dict[str, float] = defaultdict(float)
    by_op: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    cross: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for node, (region, op) in node_group.items():
        ms = float(np.median(durations[node]))
        by_region[region] += ms
        by_op[op] += ms
        calls[op] += 1
        cross[region][op] += ms
    prof.by_region, prof.by_op, prof.op_calls = dict(by_region), dict(by_op), dict(calls)
    prof.by_region_op = {k: dict(v) for k, v in cross.items()}
    return prof


class ProfiledSession:
    """An ORT CPU session with the profiler on; ``run()`` times one call, ``profile()`` groups all calls so far."""

    def __init__(self, path: str | Path, options: Any, feed: Callable[[], dict[str, Any]]) -> None:
        import onnx
        import onnxruntime as ort

        options.enable_profiling = True
        self.regions = node_regions(onnx.load(str(path)))
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.feed, self.runs, self.warm = feed, 0, 0

    def run(self) -> None:
        self.session.run(None, self.feed())
        self.runs += 1

    def profile(self, skip_runs: int = 0) -> Profile:
        """End profiling and group every kernel event after the first ``skip_runs`` runs (warm-up)."""
        path = Path(self.session.end_profiling())
        try:
            events = json.loads(path.read_text())
        finally:
            path.unlink(missing_ok=True)
        nodes = [e for e in events if e.get("cat") == "Node" and e.get("name", "").endswith(_KERNEL)]
        per_run = len(nodes) // max(self.runs, 1)
        return group_events(nodes[skip_runs * per_run:], self.regions, self.runs - skip_runs)
