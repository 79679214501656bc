"""What ``train`` checks before Ultralytics starts: settings it would accept silently or fail on with a traceback,
labels it would silently drop, and the ``--weights`` file (loaded safely, so a bad file fails in one line at once)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from grace_edge.errors import InputError


def check_settings(settings: dict[str, Any]) -> None:
    """``epochs``, ``batch`` and ``fraction`` in range and ``device`` present on this machine."""
    checks = (("epochs", 1, "at least 1"), ("batch", 1, "at least 1 image"))
    for key, low, what in checks:
        value = settings.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise InputError(f"--{key} {value}: must be {what}")
    fraction = settings.get("fraction")
    if fraction is not None and not 0.0 < float(fraction) <= 1.0:
        raise InputError(f"--fraction {fraction}: must be in (0, 1], the share of train images to use")
    check_device(settings.get("device"))


def check_device(device: Any) -> None:
    """A CUDA ``device`` ('0', '0,1', 'cuda:0') must name GPUs torch can see; 'cpu', 'auto' and None pass."""
    if device is None or str(device).strip().lower() == "mps":
        return
    from grace_edge.devices import parse_device

    value = parse_device(str(device), many=True)
    if not value.startswith("cuda:"):
        return
    from torch.cuda import device_count  # imported by name: ``cuda.`` in this package means pycuda's driver

    count = device_count()
    if count == 0:
        raise InputError(f"--device {device}: no CUDA GPU is visible on this machine; train with --device cpu")
    missing = [i for i in value.removeprefix("cuda:").split(",") if int(i) >= count]
    if missing:
        raise InputError(f"--device {device}: GPU {', '.join(missing)} does not exist (this machine has {count}: "
                         f"0..{count - 1})")


def check_labels(data: str | os.PathLike[str]) -> None:
    """Every label line of the train and val splits has a class id among the YAML's ``names``.

    Ultralytics drops an image whose label names a class beyond them (and fails with a long traceback when all
    do); here the first such line stops training before it starts, naming the file, the line and the id."""
    from grace_edge.data.yolo_yaml import load_data_yaml, split_images
    from grace_edge.evaluate.groundtruth import class_names, label_path_for

    origin = Path(data)
    cfg, _ = load_data_yaml(origin)
    nc = len(class_names(cfg, origin))
    for split in ("train", "val"):
        if not cfg.get(split):
            continue
        for image in split_images(origin, split):
            _check_label_file(label_path_for(Path(os.path.abspath(image))), nc, origin)


def _check_label_file(label: Path, nc: int, data: Path) -> None:
    try:
        text = label.read_text(encoding="utf-8")
    except FileNotFoundError:
        return  # an image without labels is a background image
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{label}: label file does not read ({type(e).__name__})") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            cls = float(fields[0])
        except ValueError:
            raise InputError(f"{label}:{lineno}: class id {fields[0]!r} is not a number") from None
        if not cls.is_integer() or not 0 <= cls < nc:
            raise InputError(f"{label}:{lineno}: class id {fields[0]} is not one of the {nc} classes of {data} "
                             f"(0..{nc - 1}); Ultralytics would silently drop this image")
