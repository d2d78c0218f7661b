"""The streaming batch pipeline: discover -> analyse in workers -> score in batches -> store.

Worker processes (``tqscore.runtime.analyse``) decode each clip and run Face Mesh, crops and the
training-free signals; a feeder thread collects their results into a bounded queue while the
main thread streams them through the engines (``tqscore.runtime.scoring``: frames of several
clips share a visual batch) and hands rows to the one writer (``ResultStore``). Memory is
bounded by the number of workers, ``group_clips`` analysed clips waiting for the engines and
one visual batch, however many files there are.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial

from tqdm import tqdm

from tqscore import __version__
from tqscore.media.discovery import discover
from tqscore.runtime.analyse import Analysis, ClipTask, analyse_clip, error_analysis, worker_init
from tqscore.runtime.config import BatchConfig
from tqscore.runtime.schema import STATUS_ERROR, STATUS_OK, output_schema
from tqscore.runtime.scoring import load_scorer
from tqscore.runtime.store import FileKey, ResultStore
from tqscore.runtime.workers import TaskFailure, WorkerPool, release_freed_memory

log = logging.getLogger(__name__)

_DONE = object()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class RunSummary:
    files: int = 0  # files this run is responsible for (after sharding)
    skipped: int = 0  # already scored by an earlier run (resume)
    processed: int = 0  # analysed (and scored) by this run
    seconds: float = 0.0
    status_counts: Counter = field(default_factory=Counter)  # over ALL rows of the output

    @property
    def clips_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    @property
    def all_ok(self) -> bool:
        return set(self.status_counts) <= {STATUS_OK}

    def lines(self) -> list[str]:
        counts = ", ".join(f"{status} {n}" for status, n in sorted(self.status_counts.items())) or "none"
        return [
            f"files: {self.files} (scored now {self.processed}, already done {self.skipped})",
            f"rows by status: {counts}",
            f"time: {self.seconds:.1f} s, {self.clips_per_s:.2f} clips/s",
        ]


def run_batch(cfg: BatchConfig) -> RunSummary:
    """Score every video under ``cfg.input_dir`` into ``cfg.out``. Raises on run-level failure."""
    started = time.monotonic()
    files = discover(cfg.input_dir, cfg.extensions, cfg.shard)
    log.info("%d video files under %s (shard %s)", len(files), cfg.input_dir, cfg.shard)
    scorer = load_scorer(cfg.engines, cfg.device, cfg.batch_size, cfg.audio_batch, cfg.precision)
    store = ResultStore(cfg.out, output_schema(), part_rows=cfg.part_rows)
    store.lock()
    try:
        if not cfg.resume:
            store.reset()
        done = store.done_keys(store.load_previous()) if cfg.resume else set()
        tasks, pre_failed = _plan(cfg, files, done, scorer.engine_id, need_inputs=scorer.needs_inputs)
        summary = RunSummary(files=len(files), skipped=len(files) - len(tasks) - len(pre_failed))
        # In a pod's log (no terminal) a line every 30 s instead of a redrawn bar.
        interval = 0.5 if sys.stderr.isatty() else 30.0
        with tqdm(total=len(tasks) + len(pre_failed), unit="clip", disable=not cfg.progress,
                  desc="tqscore batch", smoothing=0.1, mininterval=interval) as bar:
            for analysis in pre_failed:
                store.add(_row(analysis, None, scorer))
                bar.update(1)
            for analysis, scores in _scored(cfg, tasks, scorer):
                store.add(_row(analysis, scores, scorer))
                bar.update(1)
        summary.processed = len(tasks) + len(pre_failed)
        table = store.finalize(files)
    except BaseException:
        _save_pending(store)
        raise
    finally:
        store.release()
    summary.status_counts = Counter(table["status"].to_list())
    summary.seconds = time.monotonic() - started
    return summary


def _save_pending(store: ResultStore) -> None:
    """On the way out of a failed or interrupted run, keep the finished rows not yet in a part."""
    try:
        store.flush()
    except Exception as exc:
        log.error("could not save the last %d finished rows: %s", store.pending, exc)


def _plan(cfg, files, done, engine_id, need_inputs):
    """Tasks for the files not yet done; files that cannot even be stat-ed become error rows now."""
    tasks, failed = [], []
    for rel in files:
        path = cfg.input_dir / rel
        try:
            info = path.stat()
        except OSError as exc:
            task = ClipTask(rel, str(path), None, None, cfg.decode_device, need_inputs)
            failed.append(error_analysis(task, f"{path}: cannot stat file: {exc.strerror or exc}"))
            continue
        task = ClipTask(rel, str(path), info.st_size, info.st_mtime_ns // 1000, cfg.decode_device, need_inputs)
        if FileKey(rel, info.st_size, task.mtime_us, engine_id) not in done:
            tasks.append(task)
    return tasks, failed


def _scored(cfg: BatchConfig, tasks: list[ClipTask], scorer):
    """Yield (analysis, scores or None) for every task as the scorer finishes it."""
    if not tasks:  # all done already: no workers to start
        return
    ready: queue.Queue = queue.Queue(maxsize=cfg.group_clips)
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(cfg, tasks, ready, stop), name="tqscore-feeder", daemon=True)
    feeder.start()
    try:
        finished = False
        while not finished:
            group = [ready.get()]
            while len(group) < cfg.group_clips:  # take what is already waiting, never wait for more
                try:
                    group.append(ready.get_nowait())
                except queue.Empty:
                    break
            analyses = []
            for item in group:
                if item is _DONE:
                    finished = True
                elif isinstance(item, BaseException):
                    raise RuntimeError(f"the worker pool failed: {item}") from item
                else:
                    analyses.append(item)
            if analyses:
                yield from scorer.add(analyses)
                del analyses, group
                release_freed_memory()
        yield from scorer.flush()
    finally:
        stop.set()
        _drain(ready)
        feeder.join(timeout=30)


def _feed(cfg, tasks, ready: queue.Queue, stop: threading.Event) -> None:
    try:
        init = partial(worker_init, str(cfg.syncnet) if cfg.syncnet else None)
        with WorkerPool(cfg.workers, analyse_clip, init, timeout_s=cfg.clip_timeout_s) as pool:
            for index, result in pool.imap_unordered(tasks):
                if isinstance(result, TaskFailure):
                    task = tasks[index]
                    result = error_analysis(task, f"{task.path}: {result.message}")
                if not _put(ready, result, stop):
                    return
    except BaseException as exc:  # handed to the main thread, which turns it into exit code 2
        _put(ready, exc, stop)
    finally:
        _put(ready, _DONE, stop)


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put unless the consumer has stopped (then give up, so the feeder can exit)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


def _row(analysis: Analysis, scores, scorer) -> dict:
    row = {
        "path": analysis.task.rel,
        "size_bytes": analysis.task.size_bytes,
        "mtime": _utc(analysis.task.mtime_us),
        "status": analysis.status,
        "error": analysis.error,
        **analysis.meta,
        **(scores.values if scores is not None else {}),
        "model_id": scorer.model_id,
        "engine_id": scorer.engine_id,
        "tqscore_version": __version__,
        "scored_at": datetime.now(timezone.utc),
        **{f"ms_{k}": v for k, v in analysis.ms.items()},
        **(({f"ms_{k}": v for k, v in scores.ms.items()}) if scores is not None else {}),
        **analysis.signals,
    }
    if scores is not None and analysis.ms.get("total") is not None:
        row["ms_total"] = analysis.ms["total"] + sum(scores.ms.values())
    if analysis.status == STATUS_ERROR:
        row["error"] = row["error"] or "unknown error"
    return row


def _utc(mtime_us: int | None) -> datetime | None:
    # Integer arithmetic: a float timestamp can be off by a microsecond and break the resume key.
    return None if mtime_us is None else _EPOCH + timedelta(microseconds=mtime_us)
