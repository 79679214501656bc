"""The YOLO ground-truth reader: pixel boxes, background images, and clear errors for every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from grace_edge.errors import InputError
from grace_edge.evaluate.groundtruth import read_split


def write_dataset(root: Path, labels: dict[str, str | None], size: tuple[int, int] = (200, 160)) -> Path:
    """A YOLO dataset with one ``val`` split: image name -> label text (None: no label file). Returns the YAML."""
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    for name, text in labels.items():
        cv2.imwrite(str(root / "images" / "val" / name), np.full((size[1], size[0], 3), 128, np.uint8))
        if text is not None:
            (root / "labels" / "val" / name).with_suffix(".txt").write_text(text)
    yaml = root / "data.yaml"
    yaml.write_text("path: .\ntrain: images/val\nval: images/val\nnames:\n  0: a\n  1: b\n")
    return yaml


def test_boxes_in_original_pixels_and_background_images(tmp_path: Path) -> None:
    yaml = write_dataset(tmp_path, {"x.png": "1 0.5 0.5 0.5 0.25\n\n0 0.1 0.1 0.2 0.2\n", "y.png": None})
    split = read_split(yaml, "val")
    assert split.names == ["a", "b"] and [im.name for im in split.images] == ["x.png", "y.png"]
    x, y = split.images
    assert (x.width, x.height) == (200, 160)
    np.testing.assert_allclose(x.boxes, [[50, 60, 150, 100], [0, 0, 40, 32]])
    assert x.classes.tolist() == [1, 0] and x.label_path == tmp_path / "labels" / "val" / "x.txt"
    assert y.label_path is None and y.boxes.shape == (0, 4)  # kept as a background image, not dropped
    assert split.num_instances == 2


def test_split_without_any_label_file_is_an_error(tmp_path: Path) -> None:
    yaml = write_dataset(tmp_path, {"x.png": None, "y.png": None})
    with pytest.raises(InputError, match=r"no label file for any image of split 'val' \(looked for e\.g\. .*x\.txt"):
        read_split(yaml, "val")


def test_txt_list_and_max_images_spread(tmp_path: Path) -> None:
    yaml = write_dataset(tmp_path, {f"{i}.png": "0 0.5 0.5 0.2 0.2" for i in range(10)})
    (tmp_path / "list.txt").write_text("\n".join(f"./images/val/{i}.png" for i in range(10)) + "\n")
    yaml.write_text(yaml.read_text().replace("val: images/val", "val: list.txt"))
    assert len(read_split(yaml, "val").images) == 10
    picked = [im.name for im in read_split(yaml, "val", max_images=3).images]
    assert picked == ["0.png", "4.png", "9.png"]  # sorted order, first and last included


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 0.2", "x.txt:2: expected 5 values"),
        ("0 0.5 0.5 0.2 0.2 0.1", "x.txt:2: expected 5 values"),
        ("0 0.5 zero 0.2 0.2", "x.txt:2: not a number"),
        ("2 0.5 0.5 0.2 0.2", r"x.txt:2: class id 2 is not one of the 2 classes \(0..1\)"),
        ("0.5 0.5 0.5 0.2 0.2", "x.txt:2: class id 0.5 is not one"),
        ("-1 0.5 0.5 0.2 0.2", "x.txt:2: class id -1 is not one"),
        ("a 0.5 0.5 0.2 0.2", "x.txt:2: class id 'a' is not a number"),
        ("0 0.5 0.5 0 0.2", "x.txt:2: box width and height must be positive"),
        ("0 0.95 0.5 0.2 0.2", "x.txt:2: .* outside the image"),
        ("0 50 50 20 20", "x.txt:2: .* outside the image"),
    ],
)
def test_bad_label_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    yaml = write_dataset(tmp_path, {"x.png": f"0 0.5 0.5 0.2 0.2\n{line}\n"})
    with pytest.raises(InputError, match=message):
        read_split(yaml, "val")


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_unreadable_image(tmp_path: Path, kind: str) -> None:
    yaml = write_dataset(tmp_path, {"x.png": ""})
    ok, jpeg = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = b"not a jpeg" if kind == "garbage" else jpeg.tobytes()[: len(jpeg) // 2]
    (tmp_path / "images" / "val" / "bad.jpg").write_bytes(data)
    with pytest.raises(InputError, match=r"bad\.jpg: image does not read"):
        read_split(yaml, "val")


def test_truncated_jpeg_caught_even_if_opencv_decodes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # OpenCV 4.x returns a half-grey picture for a truncated JPEG; simulate that (OpenCV 5 here returns None).
    yaml = write_dataset(tmp_path, {"x.png": ""})
    ok, jpeg = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    (tmp_path / "images" / "val" / "cut.jpg").write_bytes(jpeg.tobytes()[:-40])
    monkeypatch.setattr(cv2, "imdecode", lambda *a: np.full((64, 64, 3), 128, np.uint8))
    with pytest.raises(InputError, match=r"cut\.jpg: image does not read, truncated or corrupt"):
        read_split(yaml, "val")


def test_missing_yaml_split_and_names(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="data YAML not found"):
        read_split(tmp_path / "nope.yaml")
    yaml = write_dataset(tmp_path, {"x.png": ""})
    with pytest.raises(InputError, match="no split 'test' in the data YAML \\(it has: train, val\\)"):
        read_split(yaml, "test")
    yaml.write_text("val: missing_dir\nnames: [a]\n")
    with pytest.raises(InputError, match="missing_dir: split source not found"):
        read_split(yaml, "val")
    yaml.write_text("val: images/val\nnames: {0: a, 2: b}\n")
    with pytest.raises(InputError, match="'names' keys must be 0..1"):
        read_split(yaml, "val")
    yaml.write_text("- just a list\n")
    with pytest.raises(InputError, match="must be a mapping"):
        read_split(yaml, "val")


def test_duplicate_file_names_in_a_split(tmp_path: Path) -> None:
    yaml = write_dataset(tmp_path, {"x.png": ""})
    (tmp_path / "images" / "val" / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "val" / "sub" / "x.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match="share a file name"):
        read_split(yaml, "val")


@pytest.mark.data
def test_tiny_neu_det_matches_the_voc_annotations(tiny_dataset: Path, neu_det: Path) -> None:
    from grace_edge.data.voc import parse_voc

    for split_name in ("train", "val"):
        split = read_split(tiny_dataset, split_name)
        assert split.images
        for im in split.images:
            voc = parse_voc(neu_det / "ANNOTATIONS" / f"{Path(im.name).stem}.xml")
            assert (im.width, im.height) == (voc.width, voc.height) == (200, 200)
            expected = sorted((split.names.index(b.name), b.xmin, b.ymin, b.xmax, b.ymax) for b in voc.boxes)
            got = sorted(zip(im.classes.tolist(), *im.boxes.T.tolist()))
            assert len(got) == len(expected) > 0
            np.testing.assert_allclose(np.array(got), np.array(expected), atol=0.01)


def test_image_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    # issue 22 item 2: the one size bound, before a decode
    from tests.helpers.images import png_bomb

    yaml = write_dataset(tmp_path, {"x.png": ""})
    (tmp_path / "images" / "val" / "bomb.jpg").write_bytes(png_bomb(40000, 30000))
    with pytest.raises(InputError, match=r"bomb\.jpg: image does not read \(its header declares 40000x30000"):
        read_split(yaml, "val")
