"""One VOC file: parsing, checks and YOLO label lines (hand-made XML in tmp_path, no dataset needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grace_edge.data.stats import dataset_stats, size_bin, stats_table
from grace_edge.data.voc import (
    VocAnnotation,
    VocBox,
    VocError,
    box_problems,
    drop_duplicate_boxes,
    parse_voc,
    yolo_lines,
)
from grace_edge.data.classes import NEU_DET_CLASSES


def voc_xml(objects: str, size: str = "<width>200</width><height>200</height><depth>1</depth>") -> str:
    return f"<annotation><filename>x</filename><size>{size}</size>{objects}</annotation>"


def voc_object(name: str, box: tuple[float, float, float, float], difficult: int = 0) -> str:
    corners = "".join(f"<{t}>{v}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
    return f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>{corners}</bndbox></object>"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "a.xml"
    path.write_text(text)
    return path


def test_parse_reads_size_boxes_and_difficult(tmp_path: Path) -> None:
    xml = voc_xml(voc_object("patches", (27, 1, 78, 92)) + voc_object("inclusion", (1.5, 2, 10, 200), difficult=1))
    ann = parse_voc(write(tmp_path, xml))
    assert (ann.width, ann.height) == (200, 200)
    assert ann.boxes == (
        VocBox("patches", 27, 1, 78, 92, difficult=False),
        VocBox("inclusion", 1.5, 2, 10, 200, difficult=True),
    )
    assert ann.boxes[0].area == 51 * 91  # no +1
    assert box_problems(ann, NEU_DET_CLASSES) == []  # difficult is not a problem: kept as a normal box


@pytest.mark.parametrize(
    "text, reason",
    [
        ("<annotation><size>", "not well-formed XML"),
        ("<other/>", "expected <annotation>"),
        ("<annotation></annotation>", "no <size>"),
        (voc_xml("", size="<width>200</width>"), "<size> has no <height>"),
        (voc_xml("", size="<width>20.5</width><height>200</height>"), "positive whole number"),
        (voc_xml("<object><name>patches</name></object>"), "has no <bndbox>"),
        (voc_xml(voc_object("patches", (1, 2, "x", 4))), "<xmax> is not a number: 'x'"),
        (voc_xml(voc_object("patches", (1, "nan", 3, 4))), "<ymin> is not a number: 'nan'"),
        (voc_xml("", size="<width>inf</width><height>200</height>"), "<width> is not a number: 'inf'"),
        (voc_xml("<object><bndbox/></object>"), "has no <name>"),
    ],
)
def test_malformed_xml_names_file_and_fault(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(VocError) as e:
        parse_voc(path)
    assert reason in e.value.reason and str(path) in str(e.value)


def test_missing_file_is_a_voc_error(tmp_path: Path) -> None:
    with pytest.raises(VocError, match="cannot read"):
        parse_voc(tmp_path / "missing.xml")


@pytest.mark.parametrize(
    "box, name, reason",
    [
        ((10, 10, 10, 50), "patches", "empty box"),
        ((10, 60, 50, 50), "patches", "empty box"),
        ((-1, 10, 50, 50), "patches", "outside the 200x200 image"),
        ((10, 10, 201, 50), "patches", "outside the 200x200 image"),
        ((10, 10, 50, 50), "rust", "unknown class 'rust'"),
    ],
)
def test_box_problems(box: tuple[int, int, int, int], name: str, reason: str) -> None:
    ann = VocAnnotation(Path("a.xml"), 200, 200, (VocBox("crazing", 0, 0, 200, 200), VocBox(name, *box)))
    problems = box_problems(ann, NEU_DET_CLASSES)
    assert len(problems) == 1 and reason in problems[0] and "#2" in problems[0]


def test_exact_repeats_are_dropped_once() -> None:
    a, b = VocBox("crazing", 1, 2, 30, 40), VocBox("patches", 1, 2, 30, 40)  # same corners, other class: kept
    ann = VocAnnotation(Path("a.xml"), 200, 200, (a, b, a, VocBox("crazing", 1, 2, 30, 41), a))
    unique, dropped = drop_duplicate_boxes(ann)
    assert dropped == 2 and unique.boxes == (a, b, VocBox("crazing", 1, 2, 30, 41))
    assert drop_duplicate_boxes(unique) == (unique, 0)


def test_yolo_lines_normalise_to_image_size() -> None:
    boxes = (VocBox("scratches", 20, 10, 60, 90), VocBox("crazing", 0, 0, 200, 100))
    ann = VocAnnotation(Path("a.xml"), 200, 100, boxes)
    rows = [[float(v) for v in line.split()] for line in yolo_lines(ann, NEU_DET_CLASSES)]
    assert rows[0] == pytest.approx([5, 0.2, 0.5, 0.2, 0.8])
    assert rows[1] == pytest.approx([0, 0.5, 0.5, 1.0, 1.0])


def test_size_bins_use_coco_thresholds() -> None:
    assert [size_bin(a) for a in (0, 32**2 - 1, 32**2, 96**2 - 1, 96**2, 200**2)] == [
        "small", "small", "medium", "medium", "large", "large"
    ]


def test_dataset_stats_counts_per_split() -> None:
    boxes = (VocBox("crazing", 0, 0, 10, 10), VocBox("patches", 0, 0, 100, 100, difficult=True))
    a = VocAnnotation(Path("a.xml"), 200, 200, boxes)
    b = VocAnnotation(Path("b.xml"), 200, 200, (VocBox("crazing", 0, 0, 50, 50),))
    empty = VocAnnotation(Path("c.xml"), 200, 200, ())
    stats = dataset_stats({"train": [a, empty], "val": [b]}, NEU_DET_CLASSES)
    assert stats["all"]["instances"] == 3 and stats["train"]["instances"] == 2 and stats["val"]["instances"] == 1
    assert stats["all"]["per_class"]["crazing"] == 2 and stats["val"]["per_class"]["patches"] == 0
    assert stats["all"]["size_bins"] == {"small": 1, "medium": 1, "large": 1}
    assert stats["train"]["background_images"] == 1 and stats["all"]["difficult"] == 1
    table = stats_table(stats)
    assert "crazing" in table and "large" in table and len(table.splitlines()) == 1 + 1 + 6 + 1 + 3 + 1
