"""The NEU-DET facts, defined once: class names in label-index order and the camera image the deployed graph takes
by default (data, model, export and engine build read them here)."""

from __future__ import annotations

NEU_DET_CLASSES = ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches")
NEU_DET_IMAGE_SHAPE = (200, 200, 1)  # height, width, channels: 200x200 grayscale
NEU_DET_IMAGE_TEXT = "x".join(map(str, NEU_DET_IMAGE_SHAPE))  # as --raw-input spells it
