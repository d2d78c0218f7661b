"""Analyses from this machine's worker processes, handed to an in-process scorer as they finish.

Worker processes (``tqscore.runtime.workers``) run ``analyse.analyse_clip`` on each file; a
feeder thread collects their results into a bounded queue (``BatchConfig.group_clips`` deep)
while the caller's thread takes whatever is waiting, up to ``group_clips`` at once, through the
scorer. Memory is bounded by the number of workers, the queue and the scorer's one visual
batch, however many files there are.

Leaving the block ends the workers at once (``WorkerPool.abort``), whatever they are doing, so a
worker busy on a slow clip cannot hold a stopping run past a pod's grace period; the clips in
flight are redone by the next run.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from tqscore.errors import RunError, TqscoreError
from tqscore.runtime.analyse import ClipTask, analyse_clip, error_analysis, worker_init
from tqscore.runtime.config import BatchConfig
from tqscore.runtime.workers import TaskFailure, WorkerPool, release_freed_memory

_DONE = object()


@contextmanager
def locally_scored(cfg: BatchConfig, tasks: list[ClipTask], scorer) -> Iterator:
    """(analysis, scores or None) for every task: analysed by this machine's workers, scored by
    ``scorer`` (``add`` / ``flush``) in this thread."""
    with _Analyses(cfg, tasks) as analyses:
        yield _scored(cfg, analyses, scorer)


def _scored(cfg: BatchConfig, analyses: _Analyses, scorer):
    for group in analyses.groups(cfg.group_clips):
        yield from scorer.add(group)
        del group
        release_freed_memory()
    yield from scorer.flush()


class _Analyses:
    """The workers' analyses in completion order, collected by a feeder thread into a bounded
    queue. Leaving the block ends the workers at once, whatever they are doing."""

    def __init__(self, cfg: BatchConfig, tasks: list[ClipTask]):
        self.ready: queue.Queue = queue.Queue(maxsize=cfg.group_clips)
        self.stop = threading.Event()
        init = partial(worker_init, str(cfg.syncnet) if cfg.syncnet else None)
        self.pool = WorkerPool(cfg.local_workers, analyse_clip, init, timeout_s=cfg.clip_timeout_s)
        self.feeder = threading.Thread(target=_feed, args=(self.pool, tasks, self.ready, self.stop),
                                       name="tqscore-feeder", daemon=True)

    def __enter__(self) -> _Analyses:
        self.feeder.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.feeder.is_alive():
            self.pool.abort()
        _drain(self.ready)
        self.feeder.join(timeout=10)

    def groups(self, size: int):
        """Lists of up to ``size`` analyses: what is waiting, never waiting for more than one."""
        finished = False
        while not finished:
            analyses = []
            for item in self._waiting(size):
                if item is _DONE:
                    finished = True
                else:
                    analyses.append(_analysis_or_raise(item))
            if analyses:
                yield analyses

    def _waiting(self, size: int) -> list:
        group = [self.ready.get()]
        while len(group) < size:
            try:
                group.append(self.ready.get_nowait())
            except queue.Empty:
                break
        return group


def _analysis_or_raise(item):
    """An analysis as it is; the feeder's failure raised here, in the run's thread."""
    if isinstance(item, TqscoreError):
        raise item
    if isinstance(item, BaseException):
        raise RunError(f"the worker pool failed: {type(item).__name__}: {item}") from item
    return item


def _feed(pool: WorkerPool, tasks, ready: queue.Queue, stop: threading.Event) -> None:
    try:
        with pool:
            for index, result in pool.imap_unordered(tasks):
                if isinstance(result, TaskFailure):
                    task = tasks[index]
                    result = error_analysis(task, f"{task.path}: {result.message}")
                if not _put(ready, result, stop):
                    return
    except BaseException as exc:  # handed to the run's thread, which turns it into exit code 2
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
