"""Convert NEU-DET (``IMAGES/`` + Pascal VOC ``ANNOTATIONS/``) into an Ultralytics YOLO dataset.

Output (built in a temporary folder next to ``out``, renamed into place only when complete)::

    out/images/{train,val}/<name>.jpg   copies of the source images, bytes unchanged
    out/labels/{train,val}/<name>.txt   one "class cx cy w h" line per box, normalised to the image size
    out/data.yaml                       absolute path, train, val, names (NEU_DET_CLASSES order), no download key
    out/stats.json                      instances per class and COCO size bins, per split
    out/problems.json                   every skipped file with its reason, dropped duplicate images and boxes

Rules: an XML file belongs to the image with the same file stem (the ``<filename>`` tag is ignored); a box's class
comes from its ``<name>`` tag, never from the file name; byte-identical images (SHA-256) are kept once, the first
in sorted order, and so is a box repeated within one XML file; an image with any problem is skipped whole, since a
half-labelled image teaches wrong negatives. The train/val split is stratified by the file-name class
(``<class>_<n>``) and seeded. See :mod:`grace_edge.data.voc` for the box conventions (difficult boxes are kept as
normal boxes).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from grace_edge.data.stats import MEDIUM_MAX_AREA, SMALL_MAX_AREA, dataset_stats, stats_table
from grace_edge.data.voc import VocAnnotation, VocError, box_problems, drop_duplicate_boxes, parse_voc, yolo_lines
from grace_edge.errors import InputError
from grace_edge.io import owned_prefix, remove_stale, stale_entries
from grace_edge.data.classes import NEU_DET_CLASSES
from grace_edge.data.images import check_image_header

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
IMAGES_DIR, ANNOTATIONS_DIR = "IMAGES", "ANNOTATIONS"
SPLITS = ("train", "val")
DOWNLOAD_HINT = "download NEU-DET from Zenodo record 16882077 (https://zenodo.org/records/16882077)"
_FILE_CLASS = re.compile(r"^(?P<cls>.+)_(?P<n>\d+)$")


@dataclass(frozen=True)
class Problem:
    """Why one source file was not used. ``file`` is relative to the source folder."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


class DatasetProblemsError(InputError):
    """Problems stopped the conversion (``strict``, or no usable image left); ``.problems`` lists them all."""

    def __init__(self, src: Path, problems: Sequence[Problem], why: str = "strict mode", shown: int = 5) -> None:
        self.problems = list(problems)
        listed = "; ".join(str(p) for p in self.problems[:shown])
        more = f"; and {len(self.problems) - shown} more" if len(self.problems) > shown else ""
        super().__init__(f"{len(self.problems)} problem(s) in {src} ({why}, nothing written): {listed}{more}")


@dataclass(frozen=True)
class Sample:
    """One usable image with its checked annotation."""

    image: Path
    annotation: VocAnnotation
    sha256: str
    repeated_boxes: int = 0  # exact repeats dropped from the annotation

    @property
    def name(self) -> str:
        return self.image.name


@dataclass
class ConversionReport:
    """What :func:`convert` did. ``train``/``val`` are image file names; ``duplicates`` maps dropped -> kept image;
    ``repeated_boxes`` maps image name -> exact box repeats dropped from its annotation."""

    src: Path
    out: Path
    yaml_path: Path
    train: list[str]
    val: list[str]
    duplicates: dict[str, str]
    problems: list[Problem]
    skipped: list[str]
    repeated_boxes: dict[str, int]
    stats: dict[str, Any] = field(repr=False)

    def summary(self) -> str:
        """A readable summary: counts, duplicates, skipped images and the statistics table."""
        total = len(self.train) + len(self.val)
        dups = ", ".join(f"{d} = {k}" for d, k in self.duplicates.items())
        repeats = ", ".join(f"{n}: {k}" for n, k in self.repeated_boxes.items())
        lines = [
            f"NEU-DET -> YOLO dataset in {self.out}",
            f"  images used: {total:,} (train {len(self.train):,} / val {len(self.val):,}; "
            f"seed {self.stats['seed']}, val fraction {self.stats['val_fraction']:g})",
            f"  byte-identical images dropped: {len(self.duplicates)}" + (f" ({dups})" if dups else ""),
            f"  repeated boxes dropped (same class and corners twice in one XML): {sum(self.repeated_boxes.values())}"
            + (f" ({repeats})" if repeats else ""),
            f"  images skipped because of problems: {len(self.skipped)} "
            f"({len(self.problems)} problem(s) listed in {self.out / 'problems.json'})",
            f"  data YAML: {self.yaml_path}",
            "",
            stats_table(self.stats["splits"]),
        ]
        return "\n".join(lines)


def file_class(stem: str) -> str:
    """The class in a NEU-DET file name, ``"rolled-in_scale_12"`` -> ``"rolled-in_scale"`` (used for the split only)."""
    match = _FILE_CLASS.match(stem)
    return match.group("cls") if match else stem


def group_by_file_class(names: Iterable[str]) -> dict[str, list[str]]:
    """Names grouped by :func:`file_class` of their stem; groups and the names in them sorted."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in sorted(names):
        groups[file_class(Path(name).stem)].append(name)
    return dict(sorted(groups.items()))


def check_val_fraction(val_fraction: float) -> None:
    """Raise :class:`InputError` unless ``0 < val_fraction < 1``."""
    if not 0 < val_fraction < 1:
        raise InputError(f"val fraction (--val-fraction) must be between 0 and 1, exclusive; got {val_fraction}")


def stratified_split(names: Iterable[str], seed: int = 0, val_fraction: float = 0.2) -> tuple[list[str], list[str]]:
    """Seeded split stratified by file-name class; returns sorted ``(train, val)``.

    One ``numpy.random.default_rng(seed)`` permutes the sorted names of each class in turn (classes in sorted order);
    the first ``n_val = round(n * val_fraction)`` (half rounds up) go to val, at least 1 and at most ``n - 1`` when a
    class has 2 or more images. A class with a single image goes to train.
    """
    import numpy as np

    check_val_fraction(val_fraction)
    rng = np.random.default_rng(seed)
    train: list[str] = []
    val: list[str] = []
    for group in group_by_file_class(names).values():
        n = len(group)
        n_val = min(max(int(n * val_fraction + 0.5), 1), n - 1) if n >= 2 else 0
        order = rng.permutation(n)
        val += [group[i] for i in order[:n_val]]
        train += [group[i] for i in order[n_val:]]
    return sorted(train), sorted(val)


def _relative(path: Path, src: Path) -> str:
    return path.relative_to(src).as_posix()


def _list_files(
    folder: Path, src: Path, extensions: Sequence[str], kind: str
) -> tuple[dict[str, list[Path]], list[Problem]]:
    """Files in ``folder`` by stem (hidden files ignored); any other entry is a problem."""
    by_stem: dict[str, list[Path]] = defaultdict(list)
    problems = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_file() and path.suffix.lower() in extensions:
            by_stem[path.stem].append(path)
        else:
            problems.append(Problem(_relative(path, src), f"not {kind} ({', '.join(extensions)} file expected)"))
    return by_stem, problems


def _read_image(path: Path) -> tuple[bytes, tuple[int, int]]:
    """The file's bytes and ``(width, height)``; raises if the file is unreadable, corrupt, truncated or larger
    than MAX_IMAGE_PIXELS (checked from its header, before Pillow decodes it)."""
    from PIL import Image

    data = path.read_bytes()
    why = check_image_header(data)
    if why:
        raise InputError(why)
    with Image.open(io.BytesIO(data)) as image:
        size = image.size
        # JPEG only: decode at 1/8 scale, ~3x faster; every byte is still read, so truncation is still caught.
        image.draft(image.mode, (1, 1))
        image.load()
    return data, size


def _check_source(src: Path) -> tuple[Path, Path]:
    if not src.exists():
        raise InputError(
            f"--src {src} does not exist; {DOWNLOAD_HINT} and pass the folder holding IMAGES/ and ANNOTATIONS/"
        )
    folders = src / IMAGES_DIR, src / ANNOTATIONS_DIR
    missing = [f.name + "/" for f in folders if not f.is_dir()]
    if missing:
        raise InputError(
            f"--src {src} has no {' or '.join(missing)}; expected IMAGES/<class>_<n>.jpg and "
            f"ANNOTATIONS/<class>_<n>.xml ({DOWNLOAD_HINT})"
        )
    if not any(not p.name.startswith(".") for f in folders for p in f.iterdir()):
        raise InputError(f"--src {src}: IMAGES/ and ANNOTATIONS/ are both empty ({DOWNLOAD_HINT})")
    return folders


def _read_sample(
    stem: str, images: list[Path], xmls: list[Path], src: Path, classes: Sequence[str]
) -> tuple[Sample | None, list[Problem]]:
    """Read and check one image + XML pair; a sample only when nothing is wrong with either."""
    if len(images) > 1:
        names = ", ".join(p.name for p in images)
        return None, [Problem(_relative(images[0], src), f"several images share the stem {stem!r}: {names}")]
    if not xmls:
        return None, [Problem(_relative(images[0], src), f"no annotation {ANNOTATIONS_DIR}/{stem}.xml")]
    if not images:
        return None, [Problem(_relative(xmls[0], src), f"no image {IMAGES_DIR}/{stem}.* for this annotation")]
    image, xml = images[0], xmls[0]
    problems = []
    try:
        annotation: VocAnnotation | None = parse_voc(xml)
        problems += [Problem(_relative(xml, src), reason) for reason in box_problems(annotation, classes)]
    except VocError as e:
        annotation = None
        problems.append(Problem(_relative(xml, src), e.reason))
    try:
        data, (width, height) = _read_image(image)
    except Exception as e:  # PIL raises many types for bad files; every one means "cannot use this image"
        return None, [*problems, Problem(_relative(image, src), f"unreadable or corrupt image ({e})")]
    if annotation and (width, height) != (annotation.width, annotation.height):
        declared = f"{annotation.width}x{annotation.height}"
        problems.append(Problem(_relative(image, src), f"image is {width}x{height} but {xml.name} says {declared}"))
    if problems or annotation is None:
        return None, problems
    annotation, repeated = drop_duplicate_boxes(annotation)
    return Sample(image, annotation, hashlib.sha256(data).hexdigest(), repeated), []


def scan(src: str | Path, classes: Sequence[str] = NEU_DET_CLASSES) -> tuple[list[Sample], list[Problem], list[str]]:
    """Read and check every image/XML pair in ``src``: ``(samples, problems, skipped image names)``, all sorted."""
    src = Path(src)
    images_dir, annotations_dir = _check_source(src)
    images, problems = _list_files(images_dir, src, IMAGE_EXTENSIONS, "an image")
    xmls, xml_problems = _list_files(annotations_dir, src, (".xml",), "a VOC annotation")
    problems += xml_problems
    samples, skipped = [], []
    for stem in sorted(images.keys() | xmls.keys()):
        sample, sample_problems = _read_sample(stem, images.get(stem, []), xmls.get(stem, []), src, classes)
        problems += sample_problems
        if sample:
            samples.append(sample)
        else:
            skipped += [p.name for p in images.get(stem, [])]
    return samples, problems, skipped


def drop_duplicates(samples: Sequence[Sample]) -> tuple[list[Sample], dict[str, str]]:
    """Keep the first sample (sorted by name) of each distinct image content; return ``(kept, {dropped: kept})``."""
    first: dict[str, Sample] = {}
    duplicates = {}
    for sample in sorted(samples, key=lambda s: s.name):
        kept = first.setdefault(sample.sha256, sample)
        if kept is not sample:
            duplicates[sample.name] = kept.name
    return list(first.values()), duplicates


def _limit(samples: Sequence[Sample], limit_per_class: int | None) -> list[Sample]:
    if limit_per_class is None:
        return list(samples)
    keep = {n for group in group_by_file_class(s.name for s in samples).values() for n in group[:limit_per_class]}
    return [s for s in samples if s.name in keep]


def _check_out(out: Path, src: Path, force: bool) -> None:
    out_r, src_r = out.resolve(), src.resolve()
    if out_r == src_r or out_r in src_r.parents or src_r in out_r.parents:
        raise InputError(f"--out {out} overlaps --src {src}; choose an output folder outside the source data")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"--out {out} already exists and is not empty; pass --force to replace it")


def _data_yaml(out: Path, classes: Sequence[str]) -> str:
    import yaml

    data = {"path": str(out), "train": "images/train", "val": "images/val", "names": dict(enumerate(classes))}
    header = "# NEU-DET in Ultralytics YOLO format, written by grace-edge data neu-det\n"
    return header + yaml.safe_dump(data, sort_keys=False)


def _write_split(root: Path, split: str, samples: Sequence[Sample], classes: Sequence[str]) -> None:
    images, labels = root / "images" / split, root / "labels" / split
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for sample in samples:
        shutil.copyfile(sample.image, images / sample.name)
        lines = yolo_lines(sample.annotation, classes)
        text = "".join(line + "\n" for line in lines)
        (labels / f"{sample.image.stem}.txt").write_text(text, encoding="utf-8")


def _publish(staging: Path, out: Path, force: bool) -> None:
    """Rename the finished ``staging`` folder to ``out``; an old ``out`` is removed only after that succeeded."""
    old = None
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise InputError(f"--out {out} was filled by something else during the conversion; nothing replaced")
        old = out.with_name(f"{owned_prefix(f'.{out.name}.')}{uuid.uuid4().hex[:8]}.old")
        os.rename(out, old)
    try:
        os.replace(staging, out)
    except OSError:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None and old.is_symlink():  # --out was a link: drop the link, never what it points to
        old.unlink()
    elif old is not None:
        shutil.rmtree(old, ignore_errors=True)


LEGACY_LEFTOVER = r"[0-9a-f]{8}"  # the random part of staging names written before they carried the PID


def recover_leftovers(out: Path) -> None:
    """Tidy what killed conversions into ``out`` left beside it (hidden ``.<out>.<pid>-*.tmp/.old`` folders whose
    process is gone): if a crash between the publish step's two renames lost ``out``, rename its ``.old`` back
    first; then remove the rest."""
    prefix = f".{out.name}."
    olds = stale_entries(out.parent, prefix, ".old", LEGACY_LEFTOVER)
    if olds and not out.exists() and not out.is_symlink():
        newest = max(olds, key=lambda p: p.lstat().st_mtime)
        os.rename(newest, out)
        log.warning("restored %s from %s, left by a conversion killed while replacing it", out, newest.name)
    removed = [*remove_stale(out.parent, prefix, ".old", LEGACY_LEFTOVER),
               *remove_stale(out.parent, prefix, ".tmp", LEGACY_LEFTOVER)]
    if removed:
        log.warning("removed %d leftover folder(s) of killed conversions next to %s: %s", len(removed), out,
                    ", ".join(p.name for p in removed))


def _conversion_stats(splits: dict[str, list[Sample]]) -> dict[str, Any]:
    samples = [s for split in splits.values() for s in split]
    return {
        "size_bins_rule": (
            f"box area (xmax-xmin)*(ymax-ymin) in pixels, no +1: small < {SMALL_MAX_AREA}, "
            f"medium < {MEDIUM_MAX_AREA}, large otherwise"
        ),
        "repeated_boxes_dropped": sum(s.repeated_boxes for s in samples),
        "boxes_labelled_unlike_file_name": sum(
            b.name != file_class(s.image.stem) for s in samples for b in s.annotation.boxes
        ),
        "splits": dataset_stats({k: [s.annotation for s in v] for k, v in splits.items()}, NEU_DET_CLASSES),
    }


def _write_dataset(out: Path, splits: dict[str, list[Sample]], json_files: dict[str, Any], force: bool) -> None:
    """Write everything into a staging folder next to ``out``, then rename it to ``out``."""
    staging = out.with_name(f"{owned_prefix(f'.{out.name}.')}{uuid.uuid4().hex[:8]}.tmp")
    try:
        staging.mkdir(parents=True)
        for split, samples in splits.items():
            _write_split(staging, split, samples, NEU_DET_CLASSES)
        # Plain writes are atomic enough here: readers only ever see ``staging`` once it is renamed to ``out``.
        (staging / "data.yaml").write_text(_data_yaml(out, NEU_DET_CLASSES), encoding="utf-8")
        for name, obj in json_files.items():
            (staging / name).write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
        _publish(staging, out, force)
    except OSError as e:
        raise InputError(f"cannot write the dataset to --out {out}: {e}") from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def convert(
    src: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    strict: bool = False,
    limit_per_class: int | None = None,
    force: bool = False,
) -> ConversionReport:
    """Convert the NEU-DET copy at ``src`` into a YOLO dataset at ``out`` and return what was done.

    Problems (malformed XML, missing image or XML, corrupt image, size mismatch, empty or out-of-image box, unknown
    class) skip the affected image and are listed in ``problems.json``; with ``strict=True`` any problem raises
    :class:`DatasetProblemsError` and nothing is written. ``limit_per_class`` keeps the first N names of each
    file-name class (sorted, after dedup) before splitting, for fast tests. An existing non-empty ``out`` is an
    error unless ``force``; it is then replaced only once the new dataset is complete.
    """
    src, out = Path(src), Path(os.path.abspath(out))
    recover_leftovers(out)
    _check_out(out, src, force)
    check_val_fraction(val_fraction)
    if limit_per_class is not None and limit_per_class < 1:
        raise InputError(f"limit per class (--limit-per-class) must be at least 1, got {limit_per_class}")
    samples, problems, skipped = scan(src)
    if strict and problems:
        raise DatasetProblemsError(src, problems)
    samples, duplicates = drop_duplicates(samples)
    samples = _limit(samples, limit_per_class)
    if not samples:
        raise DatasetProblemsError(src, problems, why="no usable image left")
    repeated = {s.name: s.repeated_boxes for s in samples if s.repeated_boxes}
    train_names, val_names = stratified_split([s.name for s in samples], seed, val_fraction)
    by_name = {s.name: s for s in samples}
    splits = {"train": [by_name[n] for n in train_names], "val": [by_name[n] for n in val_names]}
    stats = {
        "source": str(src.resolve()),
        "seed": seed,
        "val_fraction": val_fraction,
        "limit_per_class": limit_per_class,
        **_conversion_stats(splits),
    }
    problems_json = {
        "problems": [vars(p) for p in problems],
        "skipped_images": skipped,
        "duplicate_images": duplicates,
        "repeated_boxes": repeated,
    }
    _write_dataset(out, splits, {"stats.json": stats, "problems.json": problems_json}, force)
    if problems:
        log.warning(
            "skipped %d image(s) of %s because of %d problem(s); see %s",
            len(skipped), src, len(problems), out / "problems.json",
        )
    return ConversionReport(
        src, out, out / "data.yaml", train_names, val_names, duplicates, problems, skipped, repeated, stats
    )
