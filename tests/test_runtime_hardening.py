"""`tqscore batch` against what a user's folder and an operator's night hold (issue 14, operations).

Runs that are about the run itself (stopping, retrying, summaries, logs) use the stand-in
analysis of tqscore.testing.runtime_fakes in a real `tqscore batch` process; the files that are
about decoding (a name that is not UTF-8, a still image, a resolution change) go through the real
analysis on a shared clip.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import polars as pl
import pytest

from runtime_helpers import run_cli
from tqscore.errors import RunError
from tqscore.runtime.config import BatchConfig
from tqscore.runtime.schema import output_schema
from tqscore.testing.runtime_fakes import fake_batch_command, run_fake_batch

CLIP = "generated/sadtalker_art2_radio31.mp4"


def _segment(frames, size: tuple[int, int], first_pts: int) -> bytes:
    """Frames as one H.264 MPEG-TS segment of ``size``; segments concatenate into one stream."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i, frame in enumerate(frames):
            frame = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            frame.pts, frame.time_base = first_pts + i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def resolution_change(src: Path, dst: Path, seconds: float = 2.0) -> Path:
    """``seconds`` of ``src`` at 256x256, then as much again at 160x120, in one stream."""
    n = int(seconds * 25)
    with av.open(str(src)) as container:
        frames = [f for _, f in zip(range(2 * n), container.decode(video=0))]
    dst.write_bytes(_segment(frames[:n], (256, 256), 0) + _segment(frames[n:], (160, 120), n))
    return dst


def still_image(dst: Path) -> Path:
    import cv2

    cv2.imwrite(str(dst.with_suffix(".png")), np.full((64, 64, 3), 120, np.uint8))
    dst.with_suffix(".png").rename(dst)
    return dst


def _float_values_finite(table: pl.DataFrame) -> list[str]:
    bad = []
    for name, dtype in table.schema.items():
        if dtype in (pl.Float32, pl.Float64) and table.filter(~pl.col(name).is_finite()).height:
            bad.append(name)
    return bad


def test_odd_name_still_image_and_resolution_change_each_get_the_right_row(tmp_path, media_dir):
    videos = tmp_path / "videos"
    videos.mkdir()
    odd = os.fsdecode(os.fsencode(str(videos)) + b"/bad\xff.mp4")
    shutil.copyfile(media_dir / CLIP, odd)
    still_image(videos / "photo.mp4")
    resolution_change(media_dir / CLIP, videos / "resized.mp4")
    out = tmp_path / "scores.parquet"
    proc = run_cli(str(videos), "--out", str(out), "--workers", "1")
    assert proc.returncode == 1, proc.stderr  # the still image is an error row
    table = pl.read_parquet(out)
    rows = {r["path"]: r for r in table.iter_rows(named=True)}
    assert sorted(rows) == ["bad\\xff.mp4", "photo.mp4", "resized.mp4"]
    assert rows["bad\\xff.mp4"]["path_bytes"] == b"bad\xff.mp4" and rows["bad\\xff.mp4"]["status"] == "ok"
    assert "photo.mp4: is a still image (png), not a video" in rows["photo.mp4"]["error"]
    assert rows["resized.mp4"]["status"] != "error", rows["resized.mp4"]["error"]
    assert (rows["resized.mp4"]["width"], rows["resized.mp4"]["height"]) == (256, 256)
    assert _float_values_finite(table) == []
    assert "photo.mp4: " in proc.stdout  # the summary names the failed file

    again = run_cli(str(videos), "--out", str(out))
    assert again.returncode == 1 and "already done 3" in again.stdout and "nothing to do" in again.stdout
    assert pl.read_parquet(out).equals(table)


def test_pyav_frames_of_a_resolution_change_keep_the_first_size(tmp_path, media_dir):
    from tqscore.media import open_clip

    path = resolution_change(media_dir / CLIP, tmp_path / "resized.mp4", seconds=1.0)
    with open_clip(path, backend="pyav") as clip:
        shapes = {batch.shape[1:] for batch in clip.iter_frames()}
    assert shapes == {(256, 256, 3)}


def test_sigterm_while_a_worker_is_stuck_saves_the_finished_rows_and_stops_in_seconds(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4", "z_slow.mp4"):
        (videos / name).write_bytes(b"x")
    out = tmp_path / "scores.parquet"
    cmd = fake_batch_command("-v", "batch", str(videos), "--out", str(out), "--workers", "2", "--no-progress")
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    # A run that never gets there fails instead of hanging (its workers hold the pipe open too).
    watchdog = threading.Timer(60, os.killpg, (proc.pid, signal.SIGKILL))
    watchdog.start()
    stored = set()
    # The store logs each row it holds at DEBUG level; wait for both quick rows and the stuck worker.
    for line in proc.stderr:
        if "tqscore.runtime.store: " in line and line.rstrip().endswith(": ok"):
            stored.add(line.rsplit(": ", 2)[-2])
        if stored == {"a.mp4", "b.mp4"}:
            break
    assert stored == {"a.mp4", "b.mp4"}, "the run did not log its stored rows"
    while not (videos / "z_slow.mp4.started").exists() and proc.poll() is None:
        time.sleep(0.05)
    worker = int((videos / "z_slow.mp4.started").read_text())
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    took = time.monotonic() - t0
    watchdog.cancel()
    assert proc.returncode == 143, rest
    assert took < 5, f"took {took:.1f} s to stop"
    parts = list(out.with_name(out.name + ".parts").glob("part-*.parquet"))
    saved = pl.concat([pl.read_parquet(p) for p in parts])
    assert sorted(saved["path"]) == ["a.mp4", "b.mp4"]  # the stuck clip has no row: the next run redoes it
    assert not _running(worker)


def _running(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped by whoever inherited it) does not."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_retry_errors_redoes_only_the_error_rows(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b_flaky.mp4", "c_corrupt.mp4"):
        (videos / name).write_bytes(b"x")
    out = tmp_path / "scores.parquet"
    first = run_fake_batch(str(videos), "--out", str(out), "--workers", "1", env={"FAKE_FAIL": "1"})
    assert first.returncode == 1
    assert "files not ok (2):" in first.stdout and "b_flaky.mp4: " in first.stdout
    resumed = run_fake_batch(str(videos), "--out", str(out), "--workers", "1")
    assert "already done 3" in resumed.stdout and "nothing to do" in resumed.stdout
    retried = run_fake_batch(str(videos), "--out", str(out), "--workers", "1", "--retry-errors")
    assert "scored now 2, already done 1" in retried.stdout, retried.stderr
    statuses = dict(pl.read_parquet(out).select("path", "status").iter_rows())
    assert statuses == {"a.mp4": "ok", "b_flaky.mp4": "ok", "c_corrupt.mp4": "error"}


def test_nan_and_infinity_become_null_with_a_warning_and_worker_logs_reach_the_parent(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "c_nan.mp4").write_bytes(b"x")
    out = tmp_path / "scores.parquet"
    quiet = run_fake_batch(str(videos), "--out", str(out), "--workers", "1")
    assert quiet.returncode == 0, quiet.stderr
    row = pl.read_parquet(out).row(0, named=True)
    assert row["face_present_ratio"] is None and row["face_longest_gap_s"] is None
    assert "c_nan.mp4: face_present_ratio was nan, written as null" in quiet.stderr
    assert "INFO tqscore.tests.fake: fake analysis of c_nan.mp4" in quiet.stderr  # a worker's record
    assert "fake worker ready" not in quiet.stderr
    verbose = subprocess.run(  # progress on (not --no-progress), stderr a pipe: no terminal
        fake_batch_command("-v", "batch", str(videos), "--out", str(tmp_path / "v.parquet"), "--workers", "1"),
        capture_output=True, text=True, timeout=120)
    assert "DEBUG tqscore.tests.fake: fake worker ready" in verbose.stderr  # -v reached the worker
    assert "\r" not in verbose.stderr  # progress without a terminal: log lines, no carriage returns


def test_batch_report_takes_the_pages_group_by_and_match(tmp_path):
    videos = tmp_path / "videos"
    for group in ("gen_a", "gen_b"):
        (videos / group).mkdir(parents=True)
        for clip in ("one", "two"):
            (videos / group / f"{clip}_{group}.mp4").write_bytes(b"x")
    html = tmp_path / "page.html"
    done = run_fake_batch(str(videos), "--out", str(tmp_path / "scores.parquet"), "--workers", "1",
                          "--report", str(html), "--group-by", "folder", "--match", "^(one|two)_")
    assert done.returncode == 0, done.stderr
    assert pl.read_csv(tmp_path / "page-groups.csv")["group"].sort().to_list() == ["gen_a", "gen_b"]
    # The names differ by group, so only --match pairs one_gen_a.mp4 with one_gen_b.mp4.
    assert set(pl.read_csv(tmp_path / "page-pairs.csv")["inputs"]) == {2}
    for name in ("page.html", "page-groups.csv", "page-pairs.csv", "page-ranking.csv"):
        assert f"tqscore batch: wrote {tmp_path / name}" in done.stdout


@pytest.mark.parametrize("options, message", [
    (("--group-by", "folder"), "--group-by and --match are options of the page: they need --report HTML"),
    (("--report", "page.html", "--match", "^(one)_"), "--match needs --group-by"),
    (("--report", "page.html", "--group-by", "gen_[ab]"), "'gen_[ab]' needs exactly one capture group"),
])
def test_batch_page_options_are_checked_before_the_run(tmp_path, capsys, options, message):
    from tqscore.cli import main

    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(b"x")
    out = tmp_path / "scores.parquet"
    assert main(["batch", str(videos), "--out", str(out), "--no-progress", *options]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists() and not (tmp_path / "scores.parquet.parts").exists()  # nothing was scored

def _in_process(tmp_path, videos: Path, capsys, **kwargs) -> tuple[int, str, str]:
    from tqscore.runtime.command import execute

    code = execute(BatchConfig(videos, kwargs.pop("out", tmp_path / "scores.parquet"), progress=False, **kwargs))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_unreadable_folder_is_a_row_and_not_exit_0(tmp_path, monkeypatch, capsys):
    # Root reads every folder whatever its mode (CI runs as root), so the refusal is simulated.
    videos = tmp_path / "videos"
    (videos / "locked").mkdir(parents=True)
    scandir = os.scandir

    def refuse(path):
        if isinstance(path, (str, os.PathLike)) and Path(path).name == "locked":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    code, out, _ = _in_process(tmp_path, videos, capsys)
    assert code == 1
    table = pl.read_parquet(tmp_path / "scores.parquet")
    assert table["path"].to_list() == ["locked/"]
    assert table["status"].to_list() == ["error"] and "cannot read folder: permission denied" in table["error"][0]
    assert "locked/: " in out


def test_an_empty_folder_warns(tmp_path, capsys, caplog):
    (tmp_path / "empty").mkdir()
    with caplog.at_level(logging.INFO):
        code, _, _ = _in_process(tmp_path, tmp_path / "empty", capsys)
    assert code == 0
    assert any(r.levelno == logging.WARNING and "no video files under" in r.getMessage() for r in caplog.records)


def test_a_folder_of_files_with_other_extensions_is_never_a_silent_zero(tmp_path, capsys, caplog):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mxf", "b.mxf", "c.vob", "notes.txt"):
        (videos / name).write_bytes(b"x")
    with caplog.at_level(logging.INFO):
        code, out, _ = _in_process(tmp_path, videos, capsys)
    assert code == 0
    assert "left out by extension: 4 files (.mxf 2, .txt 1, .vob 1); --ext chooses the extensions" in out
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no video files under" in m and "left out by extension: 4 files (.mxf 2" in m for m in warning)


def test_run_level_errors_are_one_plain_line(tmp_path, capsys, monkeypatch):
    videos = tmp_path / "videos"
    videos.mkdir()
    (tmp_path / "folder").mkdir()
    code, _, err = _in_process(tmp_path, videos, capsys, out=tmp_path / "folder")
    assert code == 2 and err.count("\n") == 1
    assert "folder: is a folder; --out takes the path of the Parquet file" in err
    assert "Error" not in err and "Errno" not in err

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", read_only)
    code, _, err = _in_process(tmp_path, videos, capsys, out=tmp_path / "ro" / "scores.parquet")
    assert code == 2 and "scores.parquet: cannot write here: the file system is read-only" in err
    assert "Errno" not in err
    assert [p.name for p in (tmp_path / "ro").iterdir()] == []  # no temporary file, no lock left behind


def test_a_temporary_file_a_killed_write_left_is_removed(tmp_path, capsys):
    from tqscore.runtime.store import ResultStore

    out = tmp_path / "scores.parquet"
    stale = [tmp_path / ".scores.parquet.4242.deadbeef.tmp", tmp_path / "scores.parquet.parts" / ".part-1.tmp"]
    stale[1].parent.mkdir()
    for path in stale:
        path.write_bytes(b"half a file")
    other = tmp_path / ".other.parquet.1.tmp"  # another output's: not ours to remove
    other.write_bytes(b"")
    store = ResultStore(out, output_schema())
    store.lock()
    store.release()
    assert not any(p.exists() for p in stale) and other.exists()



def test_batch_help_has_examples_and_exit_codes_in_plain_text():
    proc = subprocess.run([sys.executable, "-m", "tqscore.cli", "batch", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    text = proc.stdout
    assert "Examples:" in text and "tqscore batch ./videos --out scores.parquet" in text
    for code in ("0 ", "1 ", "2 ", "130", "143", "SIGTERM", "Ctrl-C"):
        assert code in text
    assert "``" not in text and "--retry-errors" in text


def test_one_exit_code_map_for_every_command(capsys):
    from tqscore.cli import EXIT_ERROR, EXIT_SIGINT, EXIT_SIGTERM, exit_code

    assert exit_code("batch", RunError("cannot write\nhere", "/r/s.parquet")) == EXIT_ERROR == 2
    assert exit_code("report", FileNotFoundError(errno.ENOENT, "No such file or directory", "/r/x")) == 2
    assert exit_code("batch", KeyboardInterrupt("SIGTERM"), after_stop="; kept") == EXIT_SIGTERM == 143
    assert exit_code("export", KeyboardInterrupt()) == EXIT_SIGINT == 130
    assert capsys.readouterr().err.splitlines() == [
        "tqscore batch: error: /r/s.parquet: cannot write here",
        "tqscore report: error: /r/x: No such file or directory",
        "tqscore batch: stopped by SIGTERM; kept",
        "tqscore export: stopped by SIGINT",
    ]
