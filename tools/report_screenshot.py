"""Open a report.html in headless Debian chromium (selenium + chromedriver), check it as a person would see it, and
save a screenshot. The tests (tests/evaluate/test_report_browser.py) use the same functions.

    python tools/report_screenshot.py runs/val/best/report.html --out docs/val_report.png

Checks: every <img> decoded (naturalWidth > 0) and nothing logged to the browser console at level SEVERE (a broken
data URI, a missing file, a script error). Exit 1 with one line per problem otherwise. Offline: file:// only, and
chromium's background networking, updates and sync are off.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run")


def chromium(profile: Path, width: int = 1280, height: int = 900) -> Any:
    """A headless chromium WebDriver with console logging on; ``profile``: a fresh user-data folder."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def check_page(driver: Any, html: Path) -> list[str]:
    """Load ``html`` and return its problems: broken images and console errors (empty: the page is fine)."""
    driver.get(Path(html).resolve().as_uri())
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.all([...document.images].map(i => i.complete ? 0 : new Promise(r => { i.onload = i.onerror = r; })))"
        ".then(() => done(0));")
    broken = driver.execute_script(
        "return [...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 60));")
    problems = [f"broken image: {alt}" for alt in broken]
    if not driver.execute_script("return document.images.length;"):
        problems.append("no image on the page")
    problems += [f"console {e['level']}: {e['message'][:200]}" for e in driver.get_log("browser")
                 if e["level"] == "SEVERE"]
    return problems


def screenshot(driver: Any, path: Path, height: int | None = None) -> Path:
    """A PNG of the page's top ``height`` pixels (default: the whole page, at most 8000 px)."""
    full = int(driver.execute_script("return document.documentElement.scrollHeight;"))
    driver.set_window_size(1280, min(height or full, 8000))
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("html", type=Path, help="the report.html to open")
    p.add_argument("--out", type=Path, default=Path("docs/val_report.png"), help="screenshot PNG")
    p.add_argument("--height", type=int, default=2200, help="pixels of the page's top to capture")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="grace-chromium-") as profile:
        driver = chromium(Path(profile))
        try:
            problems = check_page(driver, args.html)
            screenshot(driver, args.out, args.height)
        finally:
            driver.quit()
    for problem in problems:
        print(f"{args.html}: {problem}", file=sys.stderr)
    print(f"screenshot: {args.out}" + (f" ({len(problems)} problem(s))" if problems else ", page checked: no broken "
                                       "image, no console error"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
