"""``tqscore report`` and ``batch --report``, checked in a real browser (headless Chromium).

One real ``tqscore batch`` over two shared clips and a broken file gives the table; the page
is then opened in Debian's ``chromium`` through Selenium and ``chromium-driver`` (the README's
test set-up installs both). The browser runs with no network and a fresh profile.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tqscore.testing.browser import chromium, chromium_paths
from conftest import MEDIA
from tqscore.cli import main

CLIPS = (MEDIA / "real" / "WDA_KatieHill_000.mp4", MEDIA / "generated" / "sadtalker_art2_radio31.mp4")


def tqscore(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tqscore.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real batch over two clips and one broken file, with --report."""
    root = tmp_path_factory.mktemp("report")
    videos = root / "videos"
    (videos / "clips").mkdir(parents=True)
    for clip in CLIPS:
        (videos / "clips" / clip.name).symlink_to(clip)
    (videos / "broken.mp4").write_bytes(b"this is not a video")
    out = root / "scores.parquet"
    done = tqscore("batch", str(videos), "--out", str(out), "--report", str(root / "batch.html"),
                   "--workers", "1", "--no-progress")
    assert done.returncode == 1, done.stderr  # one error row: "table complete, some files failed"
    return root, videos, out


@pytest.fixture(scope="module")
def ranked(run):
    """The batch table with known `overall` scores, so which clip is worst is known; a NaN in a
    signal (must not reach the page); a sync curve where the batch wrote none."""
    root, videos, out = run
    frame = pl.read_parquet(out)
    overall = {"clips/WDA_KatieHill_000.mp4": 1.5, "clips/sadtalker_art2_radio31.mp4": 3.25}
    frame = frame.with_columns(
        pl.col("path").replace_strict(overall, default=None, return_dtype=pl.Float32).alias("overall"),
        pl.when(pl.col("path") == "clips/WDA_KatieHill_000.mp4").then(float("nan"))
        .otherwise(pl.col("landmark_jitter")).cast(pl.Float32).alias("landmark_jitter"),
    )
    if "sync_curve" not in frame.columns:
        curves = [None if o is None else np.exp(-0.5 * ((np.arange(-15, 16) - o) / 2.0) ** 2).tolist()
                  for o in frame.get_column("sync_offset_frames").to_list()]
        frame = frame.with_columns(pl.Series("sync_curve", curves, dtype=pl.List(pl.Float32)))
    path = root / "ranked.parquet"
    frame.write_parquet(path)
    html = root / "ranked.html"
    done = tqscore("report", str(path), "--out", str(html), "--videos", str(videos), "--top", "2",
                   "--workers", "1", "--no-progress")
    assert done.returncode == 0, done.stderr
    return frame, html


@pytest.fixture(scope="module")
def browser():
    if not all(chromium_paths()):
        pytest.fail("chromium and chromedriver are needed: apt-get install -y chromium chromium-driver (README set-up)")
    with chromium() as driver:
        yield driver


def open_page(driver, html: Path):
    driver.get(html.resolve().as_uri())
    driver.get_log("browser")  # the log of the page before
    driver.refresh()
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def visible_paths(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#rows-table tbody tr')).map(r => r.cells[0].textContent)")


def test_batch_report_is_self_contained(run):
    root, videos, out = run
    html = (root / "batch.html").read_text(encoding="utf-8")
    sources = re.findall(r'\bsrc="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/") for s in sources)
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "the page must not load anything from a network"
    assert "<link rel=\"stylesheet\"" not in html and "<script src" not in html
    assert "broken.mp4" in html  # the error row's cause and example
    table = re.search(r'<script type="application/json" id="table-data">(.*?)</script>', html, re.S).group(1)

    def no_constants(name):
        raise AssertionError(f"{name} in the page's data")

    data = json.loads(table, parse_constant=no_constants)
    assert data["n"] == 3 and {c["name"] for c in data["columns"]} >= {"path", "status", "overall", "error"}


def test_page_loads_images_decode_and_screenshot_is_not_blank(ranked, browser):
    frame, html = ranked
    problems = open_page(browser, html)
    assert problems == [], problems
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.className, i.complete && i.naturalWidth > 0])")
    assert images and all(ok for _, ok in images), images
    kinds = [kind for kind, _ in images]
    assert kinds.count("strip") >= 2 and kinds.count("mouths") >= 2 and kinds.count("curve") >= 2
    png = browser.get_screenshot_as_png()
    from PIL import Image

    # Pillow, not cv2.imdecode: OpenCV's bundled libpng rejected one of Chromium's screenshots
    # ("libpng error: bad parameters to zlib", 1 run in 4 here) that decodes fine elsewhere.
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert picture.shape[0] > 500 and float(picture.std()) > 10.0  # not a blank or one-colour page


def test_worst_clips_follow_the_scores(ranked, browser):
    frame, html = ranked
    open_page(browser, html)
    worst = browser.execute_script(
        "return Array.from(document.querySelectorAll('#worst-overall + .cards .card .head a')).map(a => a.textContent)")
    assert worst == ["clips/WDA_KatieHill_000.mp4", "clips/sadtalker_art2_radio31.mp4"]
    # the NaN signal is an empty cell, never "NaN"
    assert "NaN" not in browser.find_element("id", "rows-table").text


def test_sorting_reorders_rows(ranked, browser):
    frame, html = ranked
    open_page(browser, html)
    header = browser.find_element("css selector", '#rows-table th[data-column="overall"]')
    header.click()
    ascending = visible_paths(browser)
    assert ascending == ["clips/WDA_KatieHill_000.mp4", "clips/sadtalker_art2_radio31.mp4", "broken.mp4"]
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert visible_paths(browser) == ["clips/sadtalker_art2_radio31.mp4", "clips/WDA_KatieHill_000.mp4", "broken.mp4"]
    link = browser.find_element("css selector", "#rows-table tbody tr td a").get_attribute("href")
    assert link.startswith("file://") and link.endswith("/videos/clips/sadtalker_art2_radio31.mp4")


def test_filter_hides_rows(ranked, browser):
    frame, html = ranked
    open_page(browser, html)
    box = browser.find_element("id", "filter")
    box.send_keys("status=error")
    browser.implicitly_wait(0)
    browser.execute_script("document.getElementById('filter').dispatchEvent(new Event('input'))")
    import time

    time.sleep(0.4)  # the filter runs 200 ms after the last keystroke
    assert visible_paths(browser) == ["broken.mp4"]
    assert "of 1 (filtered from 3)" in browser.find_element("id", "count").text
    box.clear()
    box.send_keys("overall<2")
    time.sleep(0.4)
    assert visible_paths(browser) == ["clips/WDA_KatieHill_000.mp4"]
    box.clear()
    box.send_keys("x")
    box.clear()
    time.sleep(0.4)
    assert len(visible_paths(browser)) == 3


def test_missing_videos_leave_placeholders(ranked, browser, tmp_path):
    frame, html = ranked
    empty = tmp_path / "moved"
    empty.mkdir()
    page = tmp_path / "report.html"
    done = tqscore("report", str(html.with_suffix(".parquet")), "--out", str(page), "--videos", str(empty),
                   "--no-progress")
    assert done.returncode == 0, done.stderr
    text = page.read_text(encoding="utf-8")
    assert "video not found" in text and 'class="strip"' not in text
    assert open_page(browser, page) == []


@pytest.mark.parametrize("case", ["not_tqscore", "empty", "not_parquet", "missing"])
def test_bad_input_is_a_clear_error(run, tmp_path, capsys, case):
    root, videos, out = run
    bad = tmp_path / "bad.parquet"
    if case == "not_tqscore":
        pl.DataFrame({"video": ["a.mp4"], "mos": [3.0]}).write_parquet(bad)
        expected = "not a tqscore batch output"
    elif case == "empty":
        pl.read_parquet(out).head(0).write_parquet(bad)
        expected = "no rows"
    elif case == "not_parquet":
        bad.write_text("path,status\na.mp4,ok\n")
        expected = "not a readable Parquet file"
    else:
        expected = "file not found"
    code = main(["report", str(bad), "--out", str(tmp_path / "r.html")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and str(bad) in lines[0] and expected in lines[0], lines
    assert not (tmp_path / "r.html").exists()
