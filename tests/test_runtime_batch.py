"""`tqscore batch` end to end without a model: one row per file, bad files, resume, kill, shards.

The folder mixes shared clips with bad files made at test time; every run goes through the real
command line (a fresh interpreter, spawned workers), as a nightly job would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import polars as pl
import pytest

from runtime_helpers import make_video_dir, run_cli, stable
from tqscore.layout import LABELS
from tqscore.runtime.schema import output_schema, signal_columns


@pytest.fixture(scope="module")
def videos(tmp_path_factory, media_dir):
    root = tmp_path_factory.mktemp("videos")
    return root, make_video_dir(root, media_dir)


@pytest.fixture(scope="module")
def reference(videos, tmp_path_factory):
    """One uninterrupted no-model run over the folder: (process, table)."""
    root, _ = videos
    out = tmp_path_factory.mktemp("ref") / "scores.parquet"
    t0 = time.monotonic()
    proc = run_cli(str(root), "--out", str(out), "--workers", "2")
    assert out.exists(), proc.stderr
    return proc, pl.read_parquet(out), time.monotonic() - t0


def test_every_file_gets_exactly_one_row_with_the_documented_status(videos, reference):
    _, expected = videos
    proc, table, _ = reference
    assert proc.returncode == 1, proc.stderr  # bad files present: the run finished, some rows failed
    assert table.schema == pl.Schema(output_schema())
    assert sorted(table["path"].to_list()) == sorted(expected)  # loop entered once, README.txt skipped
    statuses = dict(zip(table["path"], table["status"]))
    assert statuses == expected
    errors = table.filter(pl.col("status") == "error")
    for path, message in zip(errors["path"], errors["error"]):
        assert path.split("/")[-1] in message  # names the file ...
    causes = dict(zip(errors["path"], errors["error"]))
    assert "empty" in causes["empty.mp4"] and "not a video" in causes["notes.MP4"]
    assert "truncated" in causes["truncated.mp4"]
    assert table.filter(pl.col("status") == "ok")["error"].null_count() == table.filter(pl.col("status") == "ok").height
    assert "rows by status: error 3, no_face 1, ok 4" in proc.stdout


def test_without_a_model_scores_are_null_and_signals_are_filled(reference):
    _, table, _ = reference
    ok = table.filter(pl.col("status") == "ok")
    for label in LABELS:
        assert ok[label].null_count() == ok.height
    assert ok["model_id"].null_count() == ok.height
    assert (ok["frames_used"] > 0).all() and (ok["face_found_ratio"] > 0.9).all()
    assert ok.filter(pl.col("path") == "sub/no_audio.mp4")["has_audio"].to_list() == [False]
    assert ok.filter(pl.col("path") != "sub/no_audio.mp4")["has_audio"].all()
    filled = [c.name for c in signal_columns() if ok[c.name].null_count() < ok.height]
    assert len(filled) >= len(signal_columns()) // 2, f"signal columns mostly empty: filled {filled}"
    no_face = table.filter(pl.col("status") == "no_face")
    assert no_face["face_found_ratio"].to_list() == [0.0]
    assert (table["ms_total"].drop_nulls() > 0).all()


def test_second_run_resumes_without_work(videos, reference, tmp_path):
    root, _ = videos
    _, table, _ = reference
    out = tmp_path / "scores.parquet"
    table.write_parquet(out)  # as a finished earlier run left it
    proc = run_cli(str(root), "--out", str(out))
    assert proc.returncode == 1
    assert "scored now 0, already done 8" in proc.stdout
    assert pl.read_parquet(out).equals(table.sort("path"))


def test_no_resume_scores_again(videos, reference, tmp_path):
    root, _ = videos
    _, table, _ = reference
    out = tmp_path / "scores.parquet"
    table.write_parquet(out)
    proc = run_cli(str(root), "--out", str(out), "--no-resume", "--ext", "mp4", "--shard", "0/4")
    again = pl.read_parquet(out)
    assert "already done 0" in proc.stdout
    assert 0 < again.height < table.height  # only this shard's files: the old rows were not kept
    assert (again["scored_at"] > table["scored_at"].max()).all()


def test_sigkill_mid_run_then_resume_gives_one_row_per_file(videos, reference, tmp_path):
    root, expected = videos
    _, table, _ = reference
    out = tmp_path / "scores.parquet"
    parts = out.with_name(out.name + ".parts")
    cmd = [sys.executable, "-m", "tqscore.cli", "batch", str(root), "--out", str(out),
           "--workers", "1", "--part-rows", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not any(parts.glob("part-*.parquet")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before the first part was written"
    os.killpg(proc.pid, signal.SIGKILL)  # the main process and its workers, as a node loss does
    proc.wait()
    assert not out.exists()
    written = pl.concat([pl.read_parquet(p) for p in parts.glob("part-*.parquet")])
    assert 1 <= written.height < len(expected)
    again = run_cli(str(root), "--out", str(out))
    assert again.returncode == 1, again.stderr
    assert f"already done {written.height}" in again.stdout
    result = pl.read_parquet(out)
    assert result["path"].is_unique().all() and result.height == len(expected)
    assert stable(result).equals(stable(table))
    assert not parts.exists()


def test_shards_cover_the_folder_exactly_once(videos, reference, tmp_path):
    root, expected = videos
    _, table, _ = reference
    tables = []
    for i in range(2):
        out = tmp_path / f"scores-{i}.parquet"
        run_cli(str(root), "--out", str(out), "--shard", f"{i}/2")
        tables.append(pl.read_parquet(out))
    both = pl.concat(tables)
    assert sorted(both["path"].to_list()) == sorted(expected)
    assert all(t.height > 0 for t in tables)
    assert stable(both).equals(stable(table))


def test_exit_codes(tmp_path, media_dir):
    good = tmp_path / "good"
    good.mkdir()
    os.symlink(media_dir / "generated" / "sadtalker_art2_radio31.mp4", good / "a.mp4")
    proc = run_cli(str(good), "--out", str(tmp_path / "good.parquet"), "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert "rows by status: ok 1" in proc.stdout
    missing = run_cli(str(tmp_path / "nope"), "--out", str(tmp_path / "x.parquet"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    bad_shard = run_cli(str(good), "--out", str(tmp_path / "x.parquet"), "--shard", "3/2")
    assert bad_shard.returncode == 2 and "out of range" in bad_shard.stderr
    no_engines = run_cli(str(good), "--out", str(tmp_path / "x.parquet"), "--engines", str(tmp_path / "none"))
    assert no_engines.returncode == 2 and "none" in no_engines.stderr
    assert not (tmp_path / "x.parquet").exists()
