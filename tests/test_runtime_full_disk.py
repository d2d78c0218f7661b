"""`tqscore batch` on a full disk: one line naming the output and "disk full", exit 2, the rows
already saved kept, and a resume after freeing space that gives the complete table.

The writes fail the two ways a full disk reaches the store: polars' own error (for a failure in
the Parquet footer it carries no errno, only "Invalid thrift: transport error"; the file system's
free space is then what tells a full disk) and a plain ``OSError(ENOSPC)``. The analysis is the
stand-in of tqscore.testing.runtime_fakes, in this process's real worker pool.
"""

from __future__ import annotations

import errno
import logging
import shutil
from collections import namedtuple
from pathlib import Path

import polars as pl
import pytest

from tqscore.runtime import local
from tqscore.runtime.command import execute
from tqscore.runtime.config import BatchConfig
from tqscore.runtime.store import disk_full
from tqscore.testing import runtime_fakes

FILES = ("a.mp4", "b.mp4", "c.mp4")
THRIFT = "parquet: File out of specification: Invalid thrift: transport error"
Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def videos(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "analyse_clip", runtime_fakes.analyse)
    monkeypatch.setattr(local, "worker_init", runtime_fakes.worker_init)
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in FILES:
        (folder / name).write_bytes(b"x")
    return folder


def _full_disk(monkeypatch, kind: str, fails) -> None:
    """Make ``DataFrame.write_parquet`` fail as a full disk does, for the paths ``fails(path)`` picks."""
    write = pl.DataFrame.write_parquet

    def write_or_fail(frame, file, *args, **kwargs):
        if not fails(Path(file)):
            return write(frame, file, *args, **kwargs)
        if kind == "polars":
            raise pl.exceptions.ComputeError(THRIFT)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", write_or_fail)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(1 << 30, (1 << 30) - 96 * 1024, 96 * 1024))


def _run(videos: Path, out: Path, capsys) -> tuple[int, str, str]:
    code = execute(BatchConfig(videos, out, workers=1, part_rows=1, progress=False))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("kind", ["polars", "oserror"])
def test_a_full_disk_while_saving_parts_is_one_line_and_the_resume_completes(videos, tmp_path, monkeypatch, capsys,
                                                                           caplog, kind):
    out = tmp_path / "scores.parquet"
    parts = tmp_path / "scores.parquet.parts"
    written = []
    _full_disk(monkeypatch, kind, lambda path: written.append(path) or len(written) > 1)  # the first part fits
    with caplog.at_level(logging.WARNING):
        code, _, err = _run(videos, out, capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"tqscore batch: error: {out}: disk full: cannot write a part file (96 KiB free there); "
                          "the rows already saved are kept in scores.parquet.parts/")
    assert "Errno" not in err and "thrift" not in err
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no second complaint about the same write
    assert len(list(parts.glob("part-*.parquet"))) == 1 and not out.exists()

    monkeypatch.undo()  # space freed
    monkeypatch.setattr(local, "analyse_clip", runtime_fakes.analyse)
    monkeypatch.setattr(local, "worker_init", runtime_fakes.worker_init)
    code, text, _ = _run(videos, out, capsys)
    assert code == 0 and "scored now 2, already done 1" in text
    table = pl.read_parquet(out)
    assert table["path"].to_list() == list(FILES) and set(table["status"]) == {"ok"}


@pytest.mark.parametrize("kind", ["polars", "oserror"])
def test_a_full_disk_at_the_final_merge_keeps_every_part(videos, tmp_path, monkeypatch, capsys, kind):
    out = tmp_path / "scores.parquet"
    _full_disk(monkeypatch, kind, lambda path: path.parent == tmp_path)  # the parts fit, the whole table not
    code, _, err = _run(videos, out, capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"{out}: disk full: cannot write the final table" in err and "kept in scores.parquet.parts/" in err
    assert len(list((tmp_path / "scores.parquet.parts").glob("part-*.parquet"))) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet.parts", "videos"]  # no temporary, no lock

    monkeypatch.undo()
    code, text, _ = _run(videos, out, capsys)
    assert code == 0 and "already done 3" in text
    assert pl.read_parquet(out)["path"].to_list() == list(FILES)


def test_a_polars_write_error_with_room_to_spare_is_not_called_a_full_disk(tmp_path, monkeypatch):
    big = Usage(1 << 40, 0, 1 << 39)
    small = Usage(1 << 30, 0, 96 * 1024)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: big)
    assert not disk_full(pl.exceptions.ComputeError(THRIFT), tmp_path, 40_000)
    assert disk_full(pl.exceptions.ComputeError("underlying IO error: No space left on device (os error 28)"),
                     tmp_path, 40_000)  # the errno polars kept in its text decides when there is one
    assert not disk_full(OSError(errno.EACCES, "Permission denied"), tmp_path, 40_000)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: small)
    assert disk_full(pl.exceptions.ComputeError(THRIFT), tmp_path, 40_000)
    assert disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"), tmp_path, 0)
