"""YOLO label files: Ultralytics' path rule, and the two reads (whole boxes for evaluation, class ids for training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grace_edge.data.labels import label_path_for, read_boxes, read_classes
from grace_edge.errors import InputError


def test_label_path_follows_ultralytics_rule() -> None:
    assert label_path_for(Path("/d/images/val/images/a.b.jpg")) == Path("/d/images/val/labels/a.b.txt")


def test_boxes_normalized_xyxy_and_blank_lines_skipped(tmp_path: Path) -> None:
    label = tmp_path / "a.txt"
    label.write_text("1 0.5 0.5 0.5 0.25\n\n0 0.1 0.1 0.2 0.2\n")
    boxes, classes = read_boxes(label, 2)
    np.testing.assert_allclose(boxes, [[0.25, 0.375, 0.75, 0.625], [0.0, 0.0, 0.2, 0.2]])
    assert classes.tolist() == [1, 0] and classes.dtype == np.int64


def test_classes_only_read_the_class_id(tmp_path: Path) -> None:
    """Training checks class ids only: a box Ultralytics accepts (here past the edge) must not stop it."""
    label = tmp_path / "a.txt"
    label.write_text("2 0.99 0.5 0.2 0.2\n0 0.5 0.5 0.1 0.1\n")
    assert read_classes(label, 3).tolist() == [2, 0] and read_classes(label).tolist() == [2, 0]
    with pytest.raises(InputError, match=r"a\.txt:1: .* outside the image"):
        read_boxes(label, 3)


@pytest.mark.parametrize(("nc", "line", "message"), [
    (3, "3 0.5 0.5 0.1 0.1", r"a\.txt:2: class id 3 is not one of the 3 classes \(0\.\.2\)$"),
    (3, "1.5 0.5 0.5 0.1 0.1", r"a\.txt:2: class id 1\.5 is not one of the 3 classes"),
    (None, "-1 0.5 0.5 0.1 0.1", r"a\.txt:2: class id -1 is not a whole number >= 0$"),
    (None, "x 0.5 0.5 0.1 0.1", r"a\.txt:2: class id 'x' is not a number$"),
])
def test_bad_class_id_is_one_line_naming_file_and_line(tmp_path: Path, nc, line: str, message: str) -> None:
    label = tmp_path / "a.txt"
    label.write_text(f"0 0.5 0.5 0.1 0.1\n{line}\n")
    with pytest.raises(InputError, match=message):
        read_classes(label, nc)


def test_unreadable_label_file_is_one_line(tmp_path: Path) -> None:
    label = tmp_path / "a.txt"
    label.write_bytes(b"\xff\xfe0 0.5")
    with pytest.raises(InputError, match=r"a\.txt: label file does not read \(UnicodeDecodeError\)"):
        read_classes(label)
