"""matplotlib for the report, headless (the Agg backend: no display, no network) and readable in print."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Okabe-Ito: distinguishable for colour-blind readers and still apart in greyscale with the line styles below.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
STYLES = ("-", "--", "-.", ":")
GT_COLOR = "#009E73"  # ground truth: green, solid
PRED_COLOR = "#D55E00"  # prediction: vermilion, dashed
DPI = 110


def safe_name(text: str) -> str:
    """``text`` as a file-name part: a class or artifact name from a data YAML may hold '/' or spaces."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def style(i: int) -> str:
    return STYLES[(i // len(COLORS) + i) % len(STYLES)]


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, whatever MPLBACKEND says (a report never opens a window)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9,
                         "axes.grid": True, "grid.alpha": 0.3, "savefig.bbox": "tight"})
    return plt


def save(fig: Any, path: Path) -> Path:
    """Write ``fig`` as a PNG atomically and close it."""
    import io

    from grace_edge.io import write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    pyplot().close(fig)
    return write_bytes(path, buf.getvalue())


def outside_legend(ax: Any, **kwargs: Any) -> None:
    """A legend to the right of the axes, so that it never covers a curve."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)
