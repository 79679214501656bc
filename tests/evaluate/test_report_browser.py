"""report.html as a person sees it: Debian's chromium, headless, through selenium and chromedriver.

The page must show every image (naturalWidth > 0) and log no console error; the second and third cases break an
image and add a console error, and the same check must catch each."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.helpers import hand_case
from tools.report_screenshot import CHROMEDRIVER, CHROMIUM, check_page, chromium, screenshot


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("selenium")
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    d = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield d
    d.quit()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from grace_edge.evaluate import evaluate_predictions
    from grace_edge.evaluate.report import write_run_report

    data = hand_case.write_dataset(tmp_path_factory.mktemp("hand"))
    result = evaluate_predictions(hand_case.predictions(), data, settings={"weights": "hand.onnx"})
    return write_run_report(tmp_path_factory.mktemp("run"), result).files["html"]


def test_report_shows_every_image_without_console_errors(driver, page: Path, tmp_path: Path) -> None:
    assert check_page(driver, page) == []
    shot = screenshot(driver, tmp_path / "report.png", height=1600)
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 10_000


def test_a_broken_image_is_caught(driver, page: Path, tmp_path: Path) -> None:
    broken = tmp_path / "report.html"
    text = page.read_text()
    first = re.search(r'data:image/png;base64,([^"]{40})', text)
    broken.write_text(text.replace(first.group(1), "A" * 40, 1))  # the first PNG's header no longer decodes
    problems = check_page(driver, broken)
    assert any(p.startswith("broken image: confusion matrix, counts") for p in problems), problems


def test_a_console_error_is_caught(driver, page: Path, tmp_path: Path) -> None:
    noisy = tmp_path / "report.html"
    noisy.write_text(page.read_text().replace("</body>", "<script>console.error('report broke')</script></body>"))
    assert any("report broke" in p for p in check_page(driver, noisy))
