"""convert() on the real NEU-DET, checked against counts computed here independently with xml.etree."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from grace_edge.data.neu_det import ConversionReport, convert
from grace_edge.data.classes import NEU_DET_CLASSES

pytestmark = pytest.mark.data

Boxes = list[tuple[str, float, float, float, float]]


@pytest.fixture(scope="module")
def full(neu_det: Path, tmp_path_factory: pytest.TempPathFactory) -> ConversionReport:
    return convert(neu_det, tmp_path_factory.mktemp("neu_det_full") / "yolo", seed=0)


@pytest.fixture(scope="module")
def truth(neu_det: Path) -> dict[str, Boxes]:
    """Image stem -> boxes (name, xmin, ymin, xmax, ymax), read straight from the XML files."""
    result = {}
    for path in sorted((neu_det / "ANNOTATIONS").glob("*.xml")):
        root = ET.parse(path).getroot()
        result[path.stem] = [
            (o.findtext("name"), *(float(o.find("bndbox").findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax")))
            for o in root.iter("object")
        ]
    return result


def unique(boxes: Boxes) -> Boxes:
    return list(dict.fromkeys(boxes))


def test_dedup_drops_exactly_patches_105(full: ConversionReport) -> None:
    assert full.duplicates == {"patches_105.jpg": "patches_101.jpg"}
    assert full.problems == [] and full.skipped == []


def test_repeated_boxes_are_dropped_and_reported(full: ConversionReport, truth: dict[str, Boxes]) -> None:
    repeated = {f"{stem}.jpg": len(b) - len(unique(b)) for stem, b in truth.items() if len(b) != len(unique(b))}
    assert full.repeated_boxes == repeated and sum(repeated.values()) == 3
    assert full.stats["repeated_boxes_dropped"] == 3


def test_split_is_1439_360_and_stratified(full: ConversionReport, neu_det: Path) -> None:
    assert (len(full.train), len(full.val)) == (1439, 360)
    assert not set(full.train) & set(full.val)
    everything = {p.name for p in (neu_det / "IMAGES").iterdir()} - {"patches_105.jpg"}
    assert set(full.train) | set(full.val) == everything
    val_per_class = Counter(re.sub(r"_\d+\.jpg$", "", n) for n in full.val)
    assert val_per_class == dict.fromkeys(NEU_DET_CLASSES, 60)  # round(300 * 0.2) and round(299 * 0.2)
    for split, names in (("train", full.train), ("val", full.val)):
        assert sorted(p.name for p in (full.out / "images" / split).iterdir()) == sorted(names)


def test_labels_equal_the_xml(full: ConversionReport, truth: dict[str, Boxes]) -> None:
    index = {name: i for i, name in enumerate(NEU_DET_CLASSES)}
    for split, names in (("train", full.train), ("val", full.val)):
        for name in names:
            stem = Path(name).stem
            rows = np.loadtxt(full.out / "labels" / split / f"{stem}.txt", ndmin=2)
            expected = [
                (index[n], (a + c) / 400, (b + d) / 400, (c - a) / 200, (d - b) / 200)
                for n, a, b, c, d in unique(truth[stem])
            ]
            np.testing.assert_allclose(rows, expected, atol=1e-6, err_msg=name)


def test_stats_match_an_independent_count(full: ConversionReport, truth: dict[str, Boxes]) -> None:
    def count(names: list[str]) -> tuple[Counter, Counter]:
        boxes = [b for n in names for b in unique(truth[Path(n).stem])]
        areas = [(c - a) * (d - b) for _, a, b, c, d in boxes]
        bins = Counter("small" if x < 1024 else "medium" if x < 9216 else "large" for x in areas)
        return Counter(b[0] for b in boxes), bins

    splits = full.stats["splits"]
    for split, names in (("all", full.train + full.val), ("train", full.train), ("val", full.val)):
        per_class, bins = count(names)
        assert splits[split]["per_class"] == {c: per_class[c] for c in NEU_DET_CLASSES}
        assert splits[split]["size_bins"] == {b: bins[b] for b in ("small", "medium", "large")}
        assert splits[split]["instances"] == sum(per_class.values())
    # SOURCE.md: 4,189 <object>s in 1,800 images, 3 of them in patches_105 -> 4,186; minus 3 exact repeats.
    assert sum(len(truth[Path(n).stem]) for n in full.train + full.val) == 4186
    assert splits["all"]["instances"] == 4183
    assert full.stats["boxes_labelled_unlike_file_name"] == 188  # SOURCE.md


def test_yaml_loads_with_ultralytics_offline(full: ConversionReport) -> None:
    from grace_edge.ultralytics_setup import configure

    configure()
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(full.yaml_path), autodownload=False)
    assert data["names"] == dict(enumerate(NEU_DET_CLASSES)) and data["nc"] == 6
    assert Path(data["train"]) == full.out / "images" / "train" and Path(data["val"]) == full.out / "images" / "val"
    assert "download" not in data and Path(data["path"]).is_absolute()


def test_seed_decides_the_split(neu_det: Path, tmp_path: Path) -> None:
    a = convert(neu_det, tmp_path / "a", seed=0, limit_per_class=20)
    b = convert(neu_det, tmp_path / "b", seed=0, limit_per_class=20)
    c = convert(neu_det, tmp_path / "c", seed=1, limit_per_class=20)
    assert (a.train, a.val) == (b.train, b.val)
    assert sorted(a.train + a.val) == sorted(c.train + c.val) and len(a.train + a.val) == 120
    assert a.val != c.val and len(c.val) == 24


def test_tiny_dataset_fixture(tiny_dataset: Path) -> None:
    root = tiny_dataset.parent
    assert len(list((root / "images" / "train").iterdir())) == 30
    assert len(list((root / "images" / "val").iterdir())) == 6
