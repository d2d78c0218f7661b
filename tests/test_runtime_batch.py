"""`tqscore batch` end to end without a model: one row per file, bad files, resume, shards, exit codes.

A kill mid-run is tested with engines, in test_runtime_engines.py.

The folder mixes shared clips with bad files made at test time; every run goes through the real
command line (a fresh interpreter, spawned workers), as a nightly job would.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from runtime_helpers import make_video_dir, run_cli, stable
from tqscore.layout import LABELS
from tqscore.runtime.schema import output_schema, signal_columns


@pytest.fixture(scope="module")
def videos(tmp_path_factory, media_dir):
    root = tmp_path_factory.mktemp("videos")
    return root, make_video_dir(root, media_dir, grid=True)


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
    assert "truncated" in causes["truncated.mp4"] and "cannot stat" in causes["dangling.mp4"]
    assert table.filter(pl.col("status") == "ok")["error"].null_count() == table.filter(pl.col("status") == "ok").height
    assert "rows by status: error 4, no_face 1, ok 4" in proc.stdout
    assert "left out by extension: 1 file (.txt 1)" in proc.stdout  # README.txt, said, not silently skipped
    assert table.filter(pl.col("path") == "grid.mpg")["video_codec"].to_list() == ["mpeg1video"]


def test_without_a_model_the_reference_scores_and_signals_are_filled(reference):
    _, table, _ = reference
    ok = table.filter(pl.col("status") == "ok")
    assert (ok["model_id"] == "reference-4").all() and ok["verdict"].is_in(["pass", "review", "fail"]).all()
    for row in ok.iter_rows(named=True):
        for label in LABELS:  # a score, or null with its cause among the reasons
            assert (row[label] is not None and 1.0 <= row[label] <= 5.0) or row["reasons"], (row["path"], label)
    silent = ok.filter(pl.col("path") == "sub/no_audio.mp4").row(0, named=True)
    assert silent["audio_quality"] is None and any(r.startswith("no_audio:") for r in silent["reasons"])
    assert (ok["frames_used"] > 0).all() and (ok["face_present_ratio"] > 0.9).all()
    assert ok.filter(pl.col("path") == "sub/no_audio.mp4")["has_audio"].to_list() == [False]
    assert ok.filter(pl.col("path") != "sub/no_audio.mp4")["has_audio"].all()
    filled = [c.name for c in signal_columns() if ok[c.name].null_count() < ok.height]
    assert len(filled) >= len(signal_columns()) // 2, f"signal columns mostly empty: filled {filled}"
    no_face = table.filter(pl.col("status") == "no_face")
    assert no_face["face_present_ratio"].to_list() == [0.0]
    assert (table["ms_total"].drop_nulls() > 0).all()


def test_second_run_resumes_without_work(videos, reference, tmp_path):
    root, _ = videos
    _, table, _ = reference
    out = tmp_path / "scores.parquet"
    table.write_parquet(out)  # as a finished earlier run left it
    proc = run_cli(str(root), "--out", str(out))
    assert proc.returncode == 1
    # Only the file that cannot be stat-ed is tried again (it may have appeared meanwhile).
    assert "scored now 1, already done 8" in proc.stdout
    again = pl.read_parquet(out)
    unchanged = pl.col("path") != "dangling.mp4"
    assert again.filter(unchanged).equals(table.sort("path").filter(unchanged))
    assert_frame_equal(stable(again), stable(table))


def test_rows_made_with_other_signal_definitions_are_analysed_again(videos, reference, tmp_path):
    """An upgrade that changes a signal must not leave a table mixing old and new definitions:
    resume analyses again the rows whose signals_id has other definitions (the ``v`` part)."""
    root, _ = videos
    _, table, _ = reference
    current = table["signals_id"].drop_nulls().unique().to_list()
    assert len(current) == 1 and current[0].startswith("v")
    path = pl.col("path")
    signals = (pl.when(path == "sub/no_audio.mp4").then(pl.lit("v0-ref000000000000"))  # an older tqscore
               .when(path == "sub/deeper/landscape.mp4").then(pl.lit(None, pl.String))  # before the column
               .otherwise(pl.col("signals_id")))
    out = tmp_path / "scores.parquet"
    table.with_columns(signals.alias("signals_id")).write_parquet(out)
    proc = run_cli(str(root), "--out", str(out))
    # the two older rows and the dangling link
    assert f"scored now 3, already done {table.height - 3}" in proc.stdout, proc.stdout
    assert f"2 of {table.height} stored rows were made with other signal definitions" in proc.stderr
    again = pl.read_parquet(out)
    assert again["signals_id"].to_list() == [current[0]] * again.height
    assert_frame_equal(stable(again), stable(table))


def test_shards_cover_the_folder_exactly_once(videos, reference, tmp_path):
    """Each shard's output holds exactly its files (rows come from the finished run: no work)."""
    root, expected = videos
    _, table, _ = reference
    tables = []
    for i in range(2):
        out = tmp_path / f"scores-{i}.parquet"
        table.write_parquet(out)
        proc = run_cli(str(root), "--out", str(out), "--shard", f"{i}/2")
        assert proc.returncode == 1 and "already done" in proc.stdout, proc.stderr
        tables.append(pl.read_parquet(out))
    both = pl.concat(tables)
    assert sorted(both["path"].to_list()) == sorted(expected)
    assert all(t.height > 0 for t in tables)
    assert_frame_equal(stable(both), stable(table))


def test_exit_codes_and_no_resume(tmp_path, media_dir):
    good = tmp_path / "good"
    good.mkdir()
    os.symlink(media_dir / "generated" / "sadtalker_art2_radio31.mp4", good / "a.mp4")
    out = tmp_path / "good.parquet"
    proc = run_cli(str(good), "--out", str(out), "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert "rows by status: ok 1" in proc.stdout
    # Back-date the stored row: a row that was really scored again carries a new timestamp,
    # however quickly the second run follows the first.
    first = pl.read_parquet(out)
    dtype = first.schema["scored_at"]
    first.with_columns(pl.lit(datetime(2000, 1, 1, tzinfo=timezone.utc)).cast(dtype).alias("scored_at")).write_parquet(out)
    again = run_cli(str(good), "--out", str(out), "--no-resume", "--workers", "1")
    assert again.returncode == 0 and "scored now 1, already done 0" in again.stdout
    assert (pl.read_parquet(out)["scored_at"].dt.year() > 2000).all()

    missing = run_cli(str(tmp_path / "nope"), "--out", str(tmp_path / "x.parquet"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    bad_shard = run_cli(str(good), "--out", str(tmp_path / "x.parquet"), "--shard", "3/2")
    assert bad_shard.returncode == 2 and "out of range" in bad_shard.stderr
    no_engines = run_cli(str(good), "--out", str(tmp_path / "x.parquet"), "--engines", str(tmp_path / "none"))
    assert no_engines.returncode == 2 and "none" in no_engines.stderr
    assert not (tmp_path / "x.parquet").exists()
