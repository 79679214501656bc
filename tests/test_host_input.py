"""Host letterbox and its inverse equal Ultralytics' own LetterBox / scale_boxes (what the model was trained with)."""

from __future__ import annotations

import numpy as np
import pytest

from grace_edge.artifact import ArtifactMeta
from grace_edge.errors import InputError
from grace_edge.host_input import check_image, check_images, fill_input, letterbox


@pytest.fixture(scope="module")
def ultralytics_ops():
    from grace_edge.ultralytics_setup import configure

    configure()
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils.ops import scale_boxes

    return LetterBox, scale_boxes


@pytest.mark.parametrize("hw", [(200, 200), (100, 200), (230, 97), (64, 64), (31, 300)])
@pytest.mark.parametrize("imgsz", [(160, 160), (96, 128)])
def test_letterbox_equals_ultralytics(ultralytics_ops, hw: tuple[int, int], imgsz: tuple[int, int]) -> None:
    LetterBox, scale_boxes = ultralytics_ops
    image = np.random.default_rng(1).integers(0, 256, size=(*hw, 3), dtype=np.uint8)
    out = np.empty((3, *imgsz), np.float32)
    lb = letterbox(image, imgsz, out)
    ref = LetterBox(new_shape=imgsz, auto=False)(image=image)  # HWC BGR uint8
    ref = np.ascontiguousarray(ref[..., ::-1].transpose(2, 0, 1)).astype(np.float32) / 255  # predictor: RGB, /255
    np.testing.assert_array_equal(out, ref)

    boxes = np.array([[0, 0, imgsz[1], imgsz[0]], [10.5, 20.25, 50, 60]], np.float32)
    np.testing.assert_allclose(lb.unmap(boxes.copy()), scale_boxes(imgsz, boxes.copy(), hw), atol=1e-3)


def test_channel_conversion() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    bgr = np.repeat(gray[:, :, None], 3, axis=2)
    assert check_image(gray, 0, 1).shape == (3, 4, 1)
    np.testing.assert_array_equal(check_image(bgr, 0, 1)[:, :, 0], gray)  # identical planes: exact
    np.testing.assert_array_equal(check_image(gray, 0, 3), bgr)


def test_raw_input_batch_rows_and_padding_rows() -> None:
    meta = ArtifactMeta(names=["a"], imgsz=(4, 5), input_format="uint8_nhwc", input_shape=(4, 5, 1))
    images = check_images([np.full((4, 5), 7, np.uint8), np.full((4, 5, 3), 9, np.uint8)], meta)
    buffer = np.full((3, 4, 5, 1), 255, np.uint8)
    assert fill_input(images, meta, buffer) == [None, None]
    assert (buffer[0] == 7).all() and (buffer[1] == 9).all() and (buffer[2] == 0).all()
    with pytest.raises(InputError, match="image 0: size 4x5"):
        check_images([np.zeros((5, 4), np.uint8)], meta)
