import numpy as np
import pytest

from grace_edge.errors import InputError
from grace_edge.thresholds import FORMAT, Thresholds, load_thresholds, parse_thresholds, save_thresholds

NAMES = ("crazing", "inclusion", "patches")


def test_round_trip(tmp_path):
    t = Thresholds(classes={"crazing": 0.31, "patches": 0.5}, default=0.2, source={"recall": 0.95})
    path = save_thresholds(tmp_path / "thresholds.yaml", t)
    back = load_thresholds(path)
    assert back.to_dict() == t.to_dict()
    np.testing.assert_array_equal(back.per_label(NAMES), np.array([0.31, 0.2, 0.5], dtype=np.float32))


@pytest.mark.parametrize(
    "data, words",
    [
        ({"format": "other/1"}, "format is 'other/1'"),
        ({"format": FORMAT, "classes": {"crazing": 1.5}}, "classes.crazing = 1.5"),
        ({"format": FORMAT, "default": "high"}, "default = 'high'"),
        ({"format": FORMAT, "clases": {}}, "unknown key 'clases'"),
        ({"format": FORMAT, "classes": [0.3]}, "classes is not a mapping"),
        ([1, 2], "not a mapping"),
    ],
)
def test_bad_content_is_one_line_naming_the_key(data, words):
    with pytest.raises(InputError) as err:
        parse_thresholds(data, label="t.yaml")
    assert words in str(err.value) and str(err.value).startswith("t.yaml: ") and "\n" not in str(err.value)


def test_unknown_class_for_the_model_is_refused():
    with pytest.raises(InputError, match="'scratch' is not one of the model's classes"):
        Thresholds(classes={"scratch": 0.3}).per_label(NAMES)


def test_bad_file(tmp_path):
    (tmp_path / "t.yaml").write_text("format: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_thresholds(tmp_path / "t.yaml")
    with pytest.raises(InputError, match="cannot be read"):
        load_thresholds(tmp_path / "missing.yaml")
