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
    cpu = [f"batch {r['batch']}: {r['cpu_ms_per_call']:.2f} ms" for r in result["results"] if "cpu_ms_per_call" in r]
    if cpu:  # what waiting costs the CPU: a spinning CUDA event (sync="spin") burns it for the whole latency
        sync = f" (TensorRT sync={art['sync']!r})" if art.get("sync") else ""
        lines += ["", f"CPU time of this process per call{sync}: " + ", ".join(cpu)]
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


def _plot_end_to_end(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    import numpy as np

    x = np.arange(len(rows))
    keys = ("p50_ms", "p90_ms", "p95_ms", "p99_ms")
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        ax.bar(x + (i - 1.5) * width, [r["end_to_end"][key] for r in rows], width, label=key.replace("_ms", ""))
    ax.set(xticks=x, xticklabels=[str(r["batch"]) for r in rows], xlabel="batch", ylabel="ms per detect call",
           title="End to end latency")
    ax.set_ylim(top=1.25 * max(r["end_to_end"]["p99_ms"] for r in rows))  # headroom: the legend sits above the bars
    ax.legend(fontsize=8, ncols=len(keys), loc="upper center")


def _plot_compare(ax: Any, compare: Mapping[str, Any]) -> None:
    """One bar per runner (p50) with a whisker to p95, the value written on each, the speed ratio in the title."""
    names = list(compare["runners"])
    p50 = [compare["runners"][n]["end_to_end"]["p50_ms"] for n in names]
    p95 = [compare["runners"][n]["end_to_end"]["p95_ms"] for n in names]
    bars = ax.bar(names, p50, 0.6, color=["tab:blue", "tab:gray", "tab:olive"][: len(names)],
                  yerr=[[0] * len(names), [max(0.0, b - a) for a, b in zip(p50, p95)]], capsize=6)
    ax.bar_label(bars, labels=[f"{v:.1f} ms" for v in p50], label_type="center", color="white", fontsize=9)
    ratio = "".join(f"\n{n}: {times(r.get('speedup_p50'))} as fast at p50" for n, r in (compare.get("ratios") or {}).items())
    ax.set(ylabel="ms per image (p50, whisker p95)", title=f"Side by side, batch {compare.get('batch', 1)}{ratio}")
    ax.tick_params(axis="x", labelsize=8)


def _plot_stages(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Horizontal bars: one row per stage (in pipeline order), one bar per batch size, each labelled in ms."""
    import numpy as np

    staged = [r for r in rows if r.get("stages")]
    names = list(dict.fromkeys(s for r in staged for s in r["stages"]))
    if not names:
        ax.text(0.5, 0.5, "no per-stage profile\n(--stage-iters 0)", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    y = np.arange(len(names))
    height = 0.8 / len(staged)
    for i, r in enumerate(staged):
        values = [r["stages"].get(n, {}).get("p50_ms", 0.0) for n in names]
        bars = ax.barh(y + (i - (len(staged) - 1) / 2) * height, values, height, label=f"batch {r['batch']}")
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=2, fontsize=7)
    ax.set_yticks(y, names)
    ax.invert_yaxis()  # pipeline order top to bottom
    ax.margins(x=0.25)  # room for the value labels
    ax.set(xlabel="ms per call (p50)", title="Per stage (Detector.profile)")
    if len(staged) > 1:
        ax.legend(fontsize=8, loc="lower right")


def plot_figure(result: Mapping[str, Any]) -> Any:
    """The figure: end-to-end percentiles per batch; with --compare, the runners side by side; per-stage p50."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on a line box or CI
    import matplotlib.pyplot as plt

    compare = result.get("compare")
    panels = 3 if compare else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.6))
    _plot_end_to_end(axes[0], result["results"])
    if compare:
        _plot_compare(axes[1], compare)
    _plot_stages(axes[-1], result["results"])
    fig.suptitle(f"{Path(str(result['artifact'].get('path', ''))).name} ({result['artifact'].get('backend')})")
    fig.tight_layout()
    return fig


def write_plot(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write :func:`plot_figure` as a PNG, atomically."""
    import matplotlib.pyplot as plt

    fig = plot_figure(result)
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
