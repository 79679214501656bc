"""Dataset statistics: instances per class and COCO size bins, per split.

Size bins follow COCO's thresholds on the box area in pixels of the original image (200x200 for NEU-DET):
small < 32**2, medium < 96**2, large otherwise. The area is ``(xmax - xmin) * (ymax - ymin)`` from the VOC corners,
with no ``+1``. A box of exactly 96**2 is therefore *large* here (pycocotools' evaluation ranges are closed at both
ends, so COCOeval counts such a box in both medium and large).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from grace_edge.data.voc import VocAnnotation

SMALL_MAX_AREA = 32**2
MEDIUM_MAX_AREA = 96**2
SIZE_BINS = ("small", "medium", "large")


def size_bin(area: float) -> str:
    """COCO size bin of a box area in pixels: ``small`` < 32**2 <= ``medium`` < 96**2 <= ``large``."""
    if area < SMALL_MAX_AREA:
        return "small"
    return "medium" if area < MEDIUM_MAX_AREA else "large"


def _split_stats(annotations: Sequence[VocAnnotation], classes: Sequence[str]) -> dict[str, Any]:
    per_class = dict.fromkeys(classes, 0)
    bins = dict.fromkeys(SIZE_BINS, 0)
    difficult = 0
    for annotation in annotations:
        for box in annotation.boxes:
            per_class[box.name] += 1
            bins[size_bin(box.area)] += 1
            difficult += box.difficult
    return {
        "images": len(annotations),
        "background_images": sum(not a.boxes for a in annotations),
        "instances": sum(per_class.values()),
        "difficult": difficult,
        "per_class": per_class,
        "size_bins": bins,
    }


def dataset_stats(splits: Mapping[str, Sequence[VocAnnotation]], classes: Sequence[str]) -> dict[str, Any]:
    """Statistics for each split and for all of them together: ``{"all": {...}, "train": {...}, "val": {...}}``.

    Each entry holds ``images``, ``background_images`` (no boxes), ``instances``, ``difficult`` (kept as normal
    boxes), ``per_class`` (instances by ``<name>`` tag) and ``size_bins`` (small/medium/large instance counts).
    """
    everything = [a for annotations in splits.values() for a in annotations]
    stats = {"all": _split_stats(everything, classes)}
    stats.update({name: _split_stats(annotations, classes) for name, annotations in splits.items()})
    return stats


def stats_table(stats: Mapping[str, Mapping[str, Any]]) -> str:
    """A plain-text table of :func:`dataset_stats` output: one row per class and size bin, one column per split."""
    columns = list(stats)
    classes = list(stats["all"]["per_class"])
    rows: list[tuple[str, list[Any]]] = [("images", [stats[c]["images"] for c in columns])]
    rows += [(f"  {name}", [stats[c]["per_class"][name] for c in columns]) for name in classes]
    rows.append(("instances", [stats[c]["instances"] for c in columns]))
    rows += [(f"  {b} (area {_bin_rule(b)})", [stats[c]["size_bins"][b] for c in columns]) for b in SIZE_BINS]
    rows.append(("difficult (kept)", [stats[c]["difficult"] for c in columns]))
    width = max(len(label) for label, _ in rows)
    header = f"{'':<{width}}" + "".join(f"{c:>9}" for c in columns)
    lines = [header] + [f"{label:<{width}}" + "".join(f"{v:>9,}" for v in values) for label, values in rows]
    return "\n".join(lines)


def _bin_rule(name: str) -> str:
    return {"small": "< 32^2", "medium": "32^2..<96^2", "large": ">= 96^2"}[name]
