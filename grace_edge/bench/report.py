"""Benchmark results as JSON, markdown and a PNG plot, each written atomically.

The result dict (``SCHEMA``) is made by ``grace_edge.bench.run`` and ``benchmarks/*.py``:
``{"schema", "command", "created_utc", "artifact", "settings", "images", "system", "load_average_before",
"load_average_after", "results": [{"batch", "end_to_end": stats, "stages": {stage: stats}, "concurrent"?}],
"skipped": [{"batch", "reason"}], "compare": {...} | None, "notes": [str]}``, where ``stats`` is
:meth:`grace_edge.bench.latency.LatencyStats.to_dict`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from grace_edge.io import atomic_path, write_json, write_text

SCHEMA = "grace-edge.bench/1"
REQUIRED_KEYS = ("schema", "command", "created_utc", "artifact", "settings", "images", "system", "results", "skipped")
STATS_KEYS = ("n", "batch", "mean_ms", "std_ms", "min_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms",
              "throughput_ips")


def check_schema(result: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the first missing key (a programming error, not a user one)."""
    missing = [k for k in REQUIRED_KEYS if k not in result]
    if missing:
        raise ValueError(f"bench result lacks {missing}")
    for row in result["results"]:
        for part in [row["end_to_end"], *row.get("stages", {}).values()]:
            if lacking := [k for k in STATS_KEYS if k not in part]:
                raise ValueError(f"batch {row['batch']} stats lack {lacking}")


def _ms(v: float) -> str:
    return f"{v:.2f}"


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def times(v: float | None) -> str:
    """A ratio as '2.31x' ('-' when undefined)."""
    return _num(v, ".2f") + ("" if v is None else "x")


def stats_table(rows: Sequence[tuple[str, Mapping[str, Any]]], first: str = "batch") -> list[str]:
    """Markdown table lines: one row per (label, stats)."""
    lines = [
        f"| {first} | n | p50 ms | p90 ms | p95 ms | p99 ms | mean ms | std ms | images/s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for label, s in rows:
        lines.append(
            f"| {label} | {s['n']} | {_ms(s['p50_ms'])} | {_ms(s['p90_ms'])} | {_ms(s['p95_ms'])} | {_ms(s['p99_ms'])}"
            f" | {_ms(s['mean_ms'])} | {_ms(s['std_ms'])} | {_num(s['throughput_ips'], '.1f')} |"
        )
    return lines


def _system_lines(system: Mapping[str, Any], before: Any, after: Any) -> list[str]:
    cpu, libs, gpu, jet = (system.get(k) or {} for k in ("cpu", "libraries", "gpu", "jetson"))
    lines = [f"- CPU: {cpu.get('model')} ({cpu.get('usable_cores')} usable of {cpu.get('logical_cores')} cores; "
             f"features {', '.join(cpu.get('features') or []) or 'unknown'})"]
    lines.append("- " + ", ".join(f"{k} {v}" for k, v in libs.items() if v and not isinstance(v, list)))
    if gpu:
        lines.append("- GPU: " + ", ".join(f"{k} {v}" for k, v in gpu.items()))
    if jet:
        lines.append("- Jetson: " + "; ".join(f"{k}: {str(v).splitlines()[0]}" for k, v in jet.items()))
    lines.append(f"- load average (1/5/15 min) before: {before}, after: {after}")
    return lines


def to_markdown(result: Mapping[str, Any]) -> str:
    """A human-readable report of a bench result."""
    art, settings, images = result["artifact"], result["settings"], result["images"]
    lines = [
        f"# grace-edge bench: {Path(str(art.get('path', '?'))).name}",
        "",
        "```",
        str(result["command"]),
        "```",
        "",
        f"- created (UTC): {result['created_utc']}",
        f"- artifact: {art.get('path')} (backend {art.get('backend')}, precision {art.get('precision')}, "
        f"imgsz {art.get('imgsz')}, input {art.get('input_format')}, batch range {art.get('batch')})",
        f"- images: {images.get('count')} from {images.get('source')}",
        f"- warm-up {settings.get('warmup')} calls, {settings.get('timed')} per batch size, "
        f"workers {settings.get('workers')}, deployment conf {settings.get('conf')}",
        *_system_lines(result["system"], result.get("load_average_before"), result.get("load_average_after")),
        "",
        "## End to end (one `detect` call, per batch)",
        "",
        *stats_table([(str(r["batch"]), r["end_to_end"]) for r in result["results"]]),
    ]
    for r in result["results"]:
        if r.get("stages"):
            lines += ["", f"## Stages, batch {r['batch']} (`Detector.profile`)", "",
                      *stats_table(list(r["stages"].items()), first="stage")]
    concurrent = [(str(r["batch"]), r["concurrent"]) for r in result["results"] if r.get("concurrent")]
    if concurrent:
        lines += ["", "## Concurrent (`submit`, requests in flight = workers; images/s = wall clock)", "",
                  *stats_table(concurrent)]
    if result.get("compare"):
        lines += ["", *compare_markdown(result["compare"])]
    notes = [f"batch {s['batch']} skipped: {s['reason']}" for s in result["skipped"]] + list(result.get("notes", []))
    if notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"


def compare_markdown(compare: Mapping[str, Any]) -> list[str]:
    """The side-by-side section: every runner's stats and the ratios against the reference runner."""
    mode, batch = compare.get("mode", "interleaved"), compare.get("batch", 1)
    lines = [f"## Side by side ({mode}, batch {batch}, same images)", ""]
    lines += stats_table([(name, r["end_to_end"]) for name, r in compare["runners"].items()], first="runner")
    ref = compare.get("reference")
    if compare.get("ratios"):
        lines += ["", f"Ratios vs `{ref}` (> 1 means the row is faster):", "",
                  "| runner | speedup p50 | speedup p95 | throughput ratio |", "|---|--:|--:|--:|"]
        for name, r in compare["ratios"].items():
            cells = " | ".join(times(r[k]) for k in ("speedup_p50", "speedup_p95", "throughput_ratio"))
            lines.append(f"| {name} | {cells} |")
    lines.append("")
    for name, r in compare["runners"].items():
        if r.get("info"):
            lines.append(f"- {name}: " + ", ".join(f"{k} {v}" for k, v in r["info"].items()))
    return lines


def write_plot(result: Mapping[str, Any], path: str | Path) -> Path:
    """PNG: end-to-end percentiles per batch (left) and the per-stage p50 per batch, stacked (right)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on a line box or CI
    import matplotlib.pyplot as plt
    import numpy as np

    rows = result["results"]
    labels = [str(r["batch"]) for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    x = np.arange(len(rows))
    keys = ("p50_ms", "p90_ms", "p95_ms", "p99_ms")
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        ax1.bar(x + (i - 1.5) * width, [r["end_to_end"][key] for r in rows], width, label=key.replace("_ms", ""))
    ax1.set(xticks=x, xticklabels=labels, xlabel="batch", ylabel="ms per detect call", title="End to end latency")
    ax1.legend()
    stage_names = list(dict.fromkeys(s for r in rows for s in r.get("stages", {})))
    bottom = np.zeros(len(rows))
    for name in stage_names:
        values = np.array([r.get("stages", {}).get(name, {}).get("p50_ms", 0.0) for r in rows])
        ax2.bar(x, values, 0.6, bottom=bottom, label=name)
        bottom += values
    ax2.set(xticks=x, xticklabels=labels, xlabel="batch", ylabel="ms (p50 per stage, stacked)", title="Stages")
    if stage_names:
        ax2.legend()
    fig.suptitle(f"{Path(str(result['artifact'].get('path', ''))).name} ({result['artifact'].get('backend')})")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)


def write_report(result: Mapping[str, Any], json_path: str | Path, *, markdown_path: str | Path | None = None,
                 plot_path: str | Path | None = None) -> dict[str, Path]:
    """Write JSON (+ markdown next to it unless given, + plot if asked), atomically; return the paths."""
    check_schema(result)
    json_path = Path(json_path)
    out = {"json": write_json(json_path, result)}
    out["markdown"] = write_text(markdown_path or json_path.with_suffix(".md"), to_markdown(result))
    if plot_path is not None:
        out["plot"] = write_plot(result, plot_path)
    return out
