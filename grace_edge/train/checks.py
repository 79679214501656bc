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
    do); here the first such line stops training before it starts, naming the file, the line and the id. Only
    class ids are checked (:func:`grace_edge.data.labels.read_classes`): boxes Ultralytics accepts stay accepted."""
    from grace_edge.data.labels import label_path_for, read_classes
    from grace_edge.data.yolo_yaml import class_names, load_data_yaml, split_images

    origin = Path(data)
    cfg, _ = load_data_yaml(origin)
    nc = len(class_names(cfg, origin))
    for split in ("train", "val"):
        if not cfg.get(split):
            continue
        for image in split_images(origin, split):
            label = label_path_for(Path(os.path.abspath(image)))
            if not label.is_file():
                continue  # an image without labels is a background image
            try:
                read_classes(label, nc)
            except InputError as e:
                raise InputError(f"{e} in {origin}; Ultralytics would silently drop this image") from None
