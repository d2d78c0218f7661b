"""Discovery, sharding, the result store and the worker pool, without any model or media code."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

import polars as pl
import pytest

from tqscore.errors import RunError
from tqscore.media.discovery import NO_EXTENSION, Shard, discover, left_out_text, normalize_extensions, scan, shard_of
from tqscore.media.errors import MediaError
from tqscore.runtime.store import ResultStore, parts_dir_for
from tqscore.runtime.workers import TaskFailure, WorkerInitError, WorkerPool


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_discovery_recursive_sorted_extensions_and_symlink_loop(tmp_path, monkeypatch):
    for rel in ["b.mp4", "a/z.MOV", "a/b/c.mkv", "notes.txt", "a/b/d.mp4.part"]:
        _touch(tmp_path / rel)
    os.symlink(tmp_path / "a", tmp_path / "a" / "b" / "loop")  # a/b/loop -> a: a cycle
    os.symlink(tmp_path, tmp_path / "a" / "root_again")
    os.symlink(tmp_path / "missing.mp4", tmp_path / "dangling.mp4")
    scanned = []
    scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: scanned.append(os.path.realpath(path)) or scandir(path))
    found = discover(tmp_path)
    assert found == ["a/b/c.mkv", "a/z.MOV", "b.mp4", "dangling.mp4"]
    # Each real folder is read once, however many links lead back to it: the loops end.
    real = [os.path.realpath(d) for d in (tmp_path, tmp_path / "a", tmp_path / "a" / "b")]
    assert sorted(scanned) == sorted(real)
    assert discover(tmp_path, normalize_extensions(["MP4"])) == ["b.mp4", "dangling.mp4"]


def test_discovery_finds_every_container_ffmpeg_reads_and_counts_what_it_leaves_out(tmp_path):
    videos = ["a.mpg", "b.MPEG", "c.ts", "d.mts", "e.m2ts", "f.flv", "g.wmv", "h.3gp", "i.ogv", "j.mp4"]
    others = ["n1.txt", "sub/n2.txt", "sub/n3.TXT", "p.png", "README", "s.srt", "y.yuv", "z.zip", "w.wav"]
    for rel in videos + others:
        _touch(tmp_path / rel)
    found = scan(tmp_path)
    assert found.files == sorted(videos)
    assert found.left_out == {".txt": 3, ".png": 1, NO_EXTENSION: 1, ".srt": 1, ".yuv": 1, ".zip": 1, ".wav": 1}
    assert left_out_text(found.left_out, most=2) == "9 files (.txt 3, (none) 1, ...)"
    only_mp4 = scan(tmp_path, normalize_extensions(["mp4"]))
    assert only_mp4.files == ["j.mp4"] and sum(only_mp4.left_out.values()) == len(videos) - 1 + len(others)
    halves = [scan(tmp_path, shard=Shard(i, 2)).left_out for i in range(2)]
    assert halves[0] + halves[1] == found.left_out  # each shard counts its own files


def test_the_grid_corpus_mpeg1_clips_are_found_by_default(media_dir):
    grid = media_dir.parent / "validation" / "real"
    mpg = sorted(p.name for p in grid.glob("*.mpg"))
    assert mpg and set(mpg) <= set(discover(grid))


def test_discovery_picks_the_same_alias_of_a_doubly_linked_directory(tmp_path):
    _touch(tmp_path / "real" / "v.mp4")
    for name in ("b_link", "a_link", "c_link"):
        os.symlink(tmp_path / "real", tmp_path / name)
    assert discover(tmp_path) == ["a_link/v.mp4"]


def test_discovery_rejects_missing_root(tmp_path):
    with pytest.raises(MediaError, match="nope: input directory does not exist"):
        discover(tmp_path / "nope")
    _touch(tmp_path / "f.mp4")
    with pytest.raises(MediaError, match="f.mp4: input is not a directory"):
        discover(tmp_path / "f.mp4")


def test_shards_partition_and_are_stable_when_files_are_added(tmp_path):
    names = [f"d{i % 7}/clip_{i:04d}.mp4" for i in range(300)]
    for n in (1, 2, 3, 5):
        owners = [shard_of(name, n) for name in names]
        assert sorted(set(owners)) == list(range(n))
        covered = sorted(sum((discover_like(names, Shard(i, n)) for i in range(n)), []))
        assert covered == sorted(names)
    before = {name: shard_of(name, 4) for name in names}
    more = names + [f"new/clip_{i}.mp4" for i in range(100)]
    assert all(shard_of(name, 4) == before[name] for name in more[:300])


def discover_like(names, shard):
    return [n for n in names if shard.owns(n)]


@pytest.mark.parametrize("text", ["2/2", "1", "a/b", "-1/3", "0/0", "1/2/3"])
def test_shard_parse_rejects(text):
    with pytest.raises(ValueError, match="shard"):
        Shard.parse(text)


SCHEMA = {
    "path": pl.String,
    "path_bytes": pl.Binary,
    "size_bytes": pl.Int64,
    "mtime": pl.Datetime("us", "UTC"),
    "engine_id": pl.String,
    "signals_id": pl.String,
    "score": pl.Float32,
}


def _row(path, score, size=10, engine="e1"):
    return {"path": path, "path_bytes": path.encode(), "size_bytes": size, "mtime": datetime(2026, 1, 1, tzinfo=timezone.utc),
            "engine_id": engine, "signals_id": "v1-ref0", "score": score}


def test_store_parts_resume_and_atomic_finalize(tmp_path):
    out = tmp_path / "scores.parquet"
    store = ResultStore(out, SCHEMA, part_rows=2)
    store.lock()
    for i in range(5):
        store.add(_row(f"c{i}.mp4", float(i)))
    parts = sorted(parts_dir_for(out).glob("part-*.parquet"))
    assert len(parts) == 2 and not out.exists()  # 4 rows flushed in 2 parts, 1 pending (lost on a crash)
    assert not list(parts_dir_for(out).glob(".*tmp"))
    store.release()

    again = ResultStore(out, SCHEMA, part_rows=2)
    previous = again.load_previous()
    assert previous["path"].to_list() == [f"c{i}.mp4" for i in range(4)]
    done = again.done_keys(previous)
    assert len(done) == 4
    assert {key.definitions for key in done} == {"v1"}  # rows keyed on the definitions, not the reference
    again.add(_row("c1.mp4", 11.0))  # re-scored (say its engine changed): the newer row wins
    again.add(_row("c4.mp4", 4.0))
    table = again.finalize([f"c{i}.mp4".encode() for i in range(5)])
    assert table["path"].to_list() == [f"c{i}.mp4" for i in range(5)]
    assert table["score"].to_list() == [0.0, 11.0, 2.0, 3.0, 4.0]
    assert pl.read_parquet(out).equals(table)
    assert not parts_dir_for(out).exists()

    # A later run resumes from the output itself, drops rows of files that are gone.
    third = ResultStore(out, SCHEMA)
    assert third.load_previous().height == 5
    assert third.finalize([b"c0.mp4", b"c4.mp4"])["path"].to_list() == ["c0.mp4", "c4.mp4"]


def test_store_refuses_a_second_writer_and_incomplete_runs(tmp_path):
    out = tmp_path / "o.parquet"
    first = ResultStore(out, SCHEMA)
    first.lock()
    with pytest.raises(RunError, match="another tqscore batch"):
        ResultStore(out, SCHEMA).lock()
    first.add(_row("a.mp4", 1.0))
    with pytest.raises(RunError, match="1 of 2 files have no row"):
        first.finalize([b"a.mp4", b"b.mp4"])
    assert not out.exists()


def _square(state, x):
    if x == "boom":
        raise ValueError("bad payload")
    if x == "die":
        os._exit(3)
    if x == "hang":
        time.sleep(60)
    return state + x * x


def _init():
    return 1000


def test_worker_pool_survives_errors_crashes_and_hangs():
    payloads = [1, 2, "boom", 3, "die", 4, "hang", 5]
    with WorkerPool(2, _square, _init, timeout_s=3) as pool:
        results = dict(pool.imap_unordered(payloads))
    assert sorted(results) == list(range(len(payloads)))
    assert [results[i] for i in (0, 1, 3, 5, 7)] == [1001, 1004, 1009, 1016, 1025]
    assert isinstance(results[2], TaskFailure) and "ValueError: bad payload" in results[2].message
    assert isinstance(results[4], TaskFailure) and "exit code 3" in results[4].message
    assert isinstance(results[6], TaskFailure) and "timed out" in results[6].message


def test_plan_skips_rows_with_the_same_file_stamp_engines_and_signals(tmp_path):
    from tqscore.runtime.config import BatchConfig
    from tqscore.runtime.pipeline import _plan
    from tqscore.runtime.store import FileKey

    names = ("a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4")
    for name in names:
        _touch(tmp_path / name)
    info = {n: (tmp_path / n).stat() for n in names}

    def key(name, engines="e1", signals="v1", grow=0):
        return FileKey(name.encode(), info[name].st_size + grow, info[name].st_mtime_ns // 1000, engines, signals)

    done = {
        key("a.mp4"),  # done
        key("b.mp4", engines="e0"),  # other engines
        key("c.mp4", grow=1),  # file changed
        key("d.mp4", signals="v0"),  # older signal definitions
        key("e.mp4", signals=None),  # a row from before signals_id existed
    }
    cfg = BatchConfig(tmp_path, tmp_path / "o.parquet")
    files = ["a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4", "gone.mp4"]
    tasks, failed = _plan(cfg, files, done, "e1", "v1", need_inputs=True)
    assert [t.rel for t in tasks] == ["b.mp4", "c.mp4", "d.mp4", "e.mp4"]
    assert [f.task.rel for f in failed] == ["gone.mp4"] and "cannot stat" in failed[0].error


def _failing_init():
    raise OSError("model file missing")


def test_worker_pool_reports_a_worker_that_cannot_start():
    with pytest.raises(WorkerInitError, match="OSError: model file missing"):
        with WorkerPool(2, _square, _failing_init):
            pass


def test_docs_list_every_output_column():
    from pathlib import Path

    from tqscore.runtime.schema import output_schema

    docs = (Path(__file__).resolve().parents[1] / "docs" / "runtime.md").read_text()
    missing = [name for name in output_schema() if f"`{name}`" not in docs]
    assert not missing, f"docs/runtime.md lacks columns {missing}: paste schema_table() into it"


def test_schema_table_escapes_a_pipe_so_every_row_has_three_cells(monkeypatch):
    import re

    from tqscore.runtime import schema

    blockiness = schema.Column("blockiness", pl.Float32, "mean |luma difference| across grid lines")
    monkeypatch.setattr(schema, "signal_columns", lambda: (blockiness,))
    rows = schema.schema_table().splitlines()[2:]
    cells = [re.split(r"(?<!\\)\|", row)[1:-1] for row in rows]  # a Markdown cell ends at an unescaped |
    assert len(rows) == len(schema.columns()) and all(len(c) == 3 for c in cells)
    assert [c[2].strip().replace("\\|", "|") for c in cells] == [c.description for c in schema.columns()]


def test_building_the_parser_imports_no_heavy_library():
    import subprocess
    import sys

    heavy = ("polars", "matplotlib", "torch", "onnxruntime")
    code = ("import sys, tqscore.cli\n"
            "help = tqscore.cli.build_parser().format_help()\n"
            "print(all(name in help for name in ('batch', 'report', 'compare', 'export')))\n"
            f"print([m for m in {heavy!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True", "[]"], f"`tqscore --help` imports {done.stdout.splitlines()[-1]}"
