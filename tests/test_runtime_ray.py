"""`tqscore batch --ray`: the same rows as a local run, on a local Ray cluster, through faults.

One Ray instance for the module (``ray.init(num_cpus=2)``, a small object store, no dashboard);
the in-process runs use it, the killed-driver run joins it from a fresh interpreter by its
address (as ``--ray ADDRESS`` does on a real cluster). Clips are 2-s cuts of shared clips plus
a truncated file and a text file named .mp4; engines are the tiny ONNX exports of
test_runtime_engines.py (ONNX Runtime on the CPU: what a GPU actor does is not run here).

Kills are real SIGKILLs of Ray's own processes, found by the title Ray gives them
(``ray::<task or actor>``) or by the file they hold open: the worker reading one clip and the
engine actor with it (once, or as soon as it is up), and every process that opens one file (the
stand-in for a file that crashes its decoder). tests/ray_watch.py finds and kills them from a
process of its own, woken by inotify on every open of the files it watches; it also counts the
workers running analysis tasks, by their titles.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tqscore.testing.media_variants import reencode, text_as_video, truncate
from runtime_helpers import batch_that_dies_after_first_part, stable
from test_runtime_engines import engine_dir, tiny_bundle  # noqa: F401  (fixtures: tiny ONNX engines)
from tqscore.layout import LABELS
from tqscore.runtime.config import BatchConfig

ray = pytest.importorskip("ray")

SCORE_TOL = 1e-5  # the bound; fixed batch shapes make the scores equal in practice
# Every analysis of a clip is paid in full (a Ray run, its local reference, retries): short cuts.
CLIP_SECONDS = 2.0
EXPECTED = {"a.mp4": "ok", "b.mp4": "ok", "notes.mp4": "error", "truncated.mp4": "error"}


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, object_store_memory=200 * 1024**2, include_dashboard=False, logging_level="WARNING")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def videos(tmp_path_factory, media_dir):
    root = tmp_path_factory.mktemp("ray-videos")
    reencode(media_dir / "generated" / "sadtalker_art2_radio31.mp4", root / "a.mp4", seconds=CLIP_SECONDS)
    reencode(media_dir / "real" / "WDA_KatieHill_000.mp4", root / "b.mp4", seconds=CLIP_SECONDS)
    truncate(media_dir / "real" / "WDA_AlexandriaOcasioCortez_000.mp4", root / "truncated.mp4")
    text_as_video(root / "notes.mp4")
    return root


def _execute(videos: Path, out: Path, engines: Path | None, **kwargs) -> int:
    """Two workers for a local run (the machine's two cores analyse its clips);
    a Ray run takes the cluster's CPUs unless ``workers`` is given."""
    from tqscore.runtime.command import execute

    kwargs.setdefault("workers", None if "ray" in kwargs else 2)
    return execute(BatchConfig(videos, out, engines, batch_size=32, progress=False, **kwargs))


@pytest.fixture(scope="module")
def local_table(videos, engine_dir, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("local") / "scores.parquet"
    assert _execute(videos, out, engine_dir) == 1
    return pl.read_parquet(out)


@pytest.fixture(scope="module")
def local_reference_table(videos, tmp_path_factory):
    """A local run without engines: the reference scorer fills the scores."""
    out = tmp_path_factory.mktemp("local-reference") / "scores.parquet"
    assert _execute(videos, out, None) == 1
    return pl.read_parquet(out)


def _assert_same_rows(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Signals, statuses, errors and ids identical; scores within SCORE_TOL."""
    assert dict(zip(got["path"], got["status"])) == EXPECTED
    assert got["path"].is_unique().all()
    assert_frame_equal(stable(got).drop(LABELS), stable(want).drop(LABELS), check_exact=True)
    assert_frame_equal(stable(got).select(LABELS), stable(want).select(LABELS), check_exact=False,
                       abs_tol=SCORE_TOL, rel_tol=0)


def test_ray_rows_equal_a_local_run(cluster, videos, engine_dir, local_table, tmp_path):  # noqa: F811
    out = tmp_path / "scores.parquet"
    assert _execute(videos, out, engine_dir, ray="auto") == 1
    table = pl.read_parquet(out)
    _assert_same_rows(table, local_table)
    ok = table.filter(pl.col("status") == "ok")
    assert ok[LABELS[0]].null_count() == 0 and (ok["ms_visual"] > 0).all()
    # Resume by the same key: a second run finds every row done and does no work.
    assert _execute(videos, out, engine_dir, ray="auto") == 1
    assert pl.read_parquet(out)["scored_at"].to_list() == table["scored_at"].to_list()


def test_without_engines_a_file_uri_through_pyarrow_fs_gives_the_local_rows(cluster, videos, local_reference_table,
                                                                              tmp_path):
    """The reference scorer on the driver, and DIR as a ``file://`` URI: listed and read through
    pyarrow.fs (each file copied to the task's temporary folder), as an ``s3://`` one would be."""
    remote = tmp_path / "ray.parquet"
    assert _execute(videos.as_uri(), remote, None, ray="auto") == 1
    table = pl.read_parquet(remote)
    assert (table["model_id"] == "reference-4").all() and dict(zip(table["path"], table["status"])) == EXPECTED
    uri, folder = videos.as_uri(), str(videos)
    assert table["error"].drop_nulls().str.starts_with(uri).all()  # errors name the URI the user gave
    named_as_locally = stable(table).with_columns(
        pl.col("error").str.replace(uri, folder, literal=True),
        pl.col("reasons").list.eval(pl.element().str.replace(uri, folder, literal=True)),
    )
    assert_frame_equal(named_as_locally, stable(local_reference_table), check_exact=True)


@contextlib.contextmanager
def watching(*files: Path, kill: int = 0, and_actor: bool = False, tasks: str | None = None):
    """Runs ray_watch.py (its docstring says why a process of its own) over ``files`` for the
    with-block: it kills the first ``kill`` Ray processes to open one of them (with the engine
    actor, once, if ``and_actor``). Yields the list its reports land in when the block ends:
    ``{"t", "file", "pids"}`` per sighting of an open file, ``{"killed", "actors"}`` per kill,
    ``{"t", "tasks"}`` per sighting of processes running a task titled ``tasks``."""
    command = [sys.executable, str(Path(__file__).with_name("ray_watch.py")), str(os.getpid()),
               *map(str, files), "--kill", str(kill)] + (["--and-actor"] if and_actor else [])
    command += ["--tasks", tasks] if tasks else []
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert json.loads(proc.stdout.readline()) == {"ready": True}
    reports: list[dict] = []
    try:
        yield reports
    finally:
        out, _ = proc.communicate(timeout=60)  # closing its input ends it
        reports.extend(json.loads(line) for line in out.splitlines())


def _kills(reports: list[dict]) -> list[dict]:
    return [report for report in reports if "killed" in report]


def test_a_killed_worker_and_a_killed_engine_actor_cost_retries_not_rows(cluster, videos, engine_dir, local_table,  # noqa: F811
                                                                          tmp_path):
    """The kills land the moment a worker opens b.mp4 (the actor's, if it is not up yet, as soon as
    it is): b has not been analysed yet, so its row (and every row still behind it) can only pass
    through a restarted actor. A trigger on stored rows would race: Ray Data can hand the driver
    rows seconds after the actor made them (seen here: a row scored at 3.8 s reached the driver
    with the last one, at 11.3 s)."""
    tries = []
    for attempt in range(3):  # one CI run's watcher saw no open of b.mp4 at all (cause not found): again
        out = tmp_path / f"scores-{attempt}.parquet"
        with watching(videos / "b.mp4", kill=1, and_actor=True) as reports:
            code = _execute(videos, out, engine_dir, ray="auto", group_clips=1, part_rows=1)
        tries.append(reports)
        kills = _kills(reports)
        if kills:
            break
    print(f"killed on try {len(tries)}; what the watcher saw on the others: {tries[:-1]}")
    workers = [pid for kill in kills for pid in kill["killed"]]
    actors = [pid for kill in kills for pid in kill["actors"]]
    assert len(workers) == 1 and len(actors) == 1, tries
    assert code == 1
    _assert_same_rows(pl.read_parquet(out), local_table)  # b.mp4's retry gave its row, once, from the new actor


def test_a_file_that_kills_every_attempt_is_one_error_row(cluster, videos, tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    deadly = one / "deadly.mp4"
    shutil.copyfile(videos / "b.mp4", deadly)  # a copy of our own: only this run's workers open it
    os.symlink(videos / "notes.mp4", one / "notes.mp4")
    out = tmp_path / "scores.parquet"
    with watching(deadly, kill=3) as reports:  # the stand-in for a file that crashes its decoder every time
        assert _execute(one, out, None, ray="auto") == 1
    kills = [pid for report in _kills(reports) for pid in report["killed"]]
    table = pl.read_parquet(out).sort("path")
    assert table["path"].to_list() == ["deadly.mp4", "notes.mp4"]
    row = table.row(0, named=True)
    assert len(kills) == 3 and row["status"] == "error", (kills, row["error"])
    assert "deadly.mp4" in row["error"] and "worker process died on all 3 attempts" in row["error"]
    assert "not a video" in table.row(1, named=True)["error"]


def test_a_file_longer_than_the_clip_timeout_is_one_error_row_not_a_stuck_run(cluster, videos, tmp_path):
    """Ray Data cannot time a task out; the task's own timer ends its worker. A 2-s clip takes
    over a second to analyse, so a 0.3-s timeout stands in for a decoder that never returns."""
    one = tmp_path / "one"
    one.mkdir()
    os.symlink(videos / "b.mp4", one / "slow.mp4")
    out = tmp_path / "scores.parquet"
    started = time.monotonic()
    assert _execute(one, out, None, ray="auto", clip_timeout_s=0.3) == 1
    row = pl.read_parquet(out).row(0, named=True)
    assert row["status"] == "error" and "slow.mp4" in row["error"], row["error"]
    assert "died on all 3 attempts" in row["error"] and "--clip-timeout 0.3 s" in row["error"]
    assert time.monotonic() - started < 120


def test_workers_caps_the_analysis_tasks_running_at_once(cluster, videos, tmp_path):
    """``--workers`` on a shared cluster is the CPUs the run may take. Seen from outside: how long
    two Ray workers run an analysis task at once (Ray titles a worker ``ray::Map(_analyse_row)``
    while it runs one). The cluster has 2 CPUs; uncapped, the same run runs two at once for
    seconds. Counted in time, not as the most seen at once: a finished task's title can linger
    past the start of the next one (3 at once was seen on 2 CPUs under a parallel suite), a
    blip of one scan. Eight clips, because Ray Data starts one task and adds the second as the
    first ones finish. Counting clips held open instead missed the overlap on the 2-core CI
    machine: a task holds its clip only for the ~0.4 s its frames decode."""
    folder = tmp_path / "clips"
    folder.mkdir()
    for i, name in enumerate("abcdefgh"):
        os.symlink(videos / ("a.mp4", "b.mp4")[i % 2], folder / f"{name}.mp4")

    def seconds_two_at_once(**kwargs) -> float:
        with watching(tasks="Map(_analyse_row)") as reports:
            assert _execute(folder, tmp_path / f"scores-{len(kwargs)}.parquet", None, ray="auto", **kwargs) == 0
        scans = [(report["t"], len(report["tasks"])) for report in reports if "tasks" in report]
        assert scans, "no analysis task was ever seen: the watcher sees nothing"
        # Only scans that found a task are reported: a longer gap is time with none running.
        return sum(min(t1 - t0, 0.1) for (t0, n), (t1, _) in zip(scans, scans[1:]) if n >= 2)

    capped, uncapped = seconds_two_at_once(workers=1), seconds_two_at_once()
    print(f"two analysis tasks at once: {capped:.2f} s capped, {uncapped:.2f} s uncapped")
    assert capped < 0.3 < 1.0 < uncapped, (capped, uncapped)


def test_a_killed_driver_is_resumed_by_running_again(cluster, videos, local_reference_table, tmp_path, capsys):
    """The killed driver joins the cluster by its address from a fresh interpreter; the run again
    is the same command line in this process (connected to the same cluster already)."""
    from tqscore.cli import main

    out = tmp_path / "scores.parquet"
    parts = out.with_name(out.name + ".parts")
    args = ["batch", str(videos), "--out", str(out), "--part-rows", "1", "--no-progress", "--ray", cluster]
    # The driver SIGKILLs itself right after its first part is on disk (the cluster lives on).
    die_after_first_part = batch_that_dies_after_first_part(args, "os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", die_after_first_part], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert not out.exists()
    done_before = sum(pl.read_parquet(p).height for p in parts.glob("part-*.parquet"))
    assert done_before == 1
    capsys.readouterr()
    assert main(args) == 1
    assert f"already done {done_before}" in capsys.readouterr().out
    _assert_same_rows(pl.read_parquet(out), local_reference_table)
    assert not parts.exists()
