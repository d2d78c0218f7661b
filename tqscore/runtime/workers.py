"""A pool of CPU worker processes that survives its workers crashing or hanging.

Why not ``multiprocessing.Pool`` / ``ProcessPoolExecutor``: when one worker dies (a decoder
segfault on a hostile file, the OOM killer) those pools break every task in flight and cannot
tell which file did it; and neither can stop one task that hangs. Here each worker has its own
pipe, the pool knows which task each worker holds, so a crash or a timeout costs exactly one
file (reported as an error result) and the worker is replaced.

Workers start with the ``spawn`` context: MediaPipe and the decoders hold threads and GPU/driver
state that ``fork`` would copy half-initialised. Results come back in completion order.

A worker's log records travel over its own pipe and are handled by the parent's loggers, so
they share the parent's handlers (one format, the progress bar's redirect) and its level
(``-v`` reaches the workers). A shared ``multiprocessing.Queue`` would not do: a worker killed
while writing to it would leave the queue's lock held for every other worker.

``abort()`` (from another thread) stops the pool at once: SIGTERM to every worker, SIGKILL to
any still alive a second later, no new worker started. A run being stopped uses it, so that a
worker busy on a slow clip does not hold the run up.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from tqscore.errors import RunError

log = logging.getLogger(__name__)


@dataclass
class TaskFailure:
    """What the pool yields for a task whose worker raised, died or timed out."""

    message: str


@dataclass
class _Slot:
    process: mp.Process
    conn: Connection
    task: tuple[int, Any] | None = None
    started: float = 0.0


_LIBC = None  # ctypes handle on glibc, False where there is none


def release_freed_memory() -> None:
    """Give freed heap back to the OS (glibc ``malloc_trim``); a no-op elsewhere.

    Each clip allocates and frees hundreds of MB (frames, crops, decoder buffers), and glibc keeps
    freed chunks in its arenas: measured in one process over 42 shared clips, resident memory
    ranges 539-1010 MB without the trim and 519-554 MB with one after each clip; over a 210-file
    pool run the floor between clips does not grow (``benchmarks/runtime_e2e.py``, docs/benchmarks.md).
    """
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


class WorkerInitError(RunError):
    """A worker could not start (its ``init`` raised): the run cannot go on, whatever the file."""


_ABORT_GRACE_S = 1.0  # SIGTERM first, so a worker's decoder can close its files; then SIGKILL
_LOG = "log"  # message tag of a forwarded log record (task messages carry an int index)


class _PipeLogHandler(logging.Handler):
    """In a worker: send each record to the parent over the worker's pipe (sends are locked:
    a library thread may log while the worker's main thread sends a result)."""

    def __init__(self, conn: Connection, lock: threading.Lock):
        super().__init__()
        self.conn, self.send_lock = conn, lock  # not ``self.lock``: logging.Handler's own lock has that name

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            fields = {**record.__dict__, "msg": message, "args": None, "exc_info": None, "exc_text": None}
            with self.send_lock:
                self.conn.send((_LOG, fields))
        except Exception:
            self.handleError(record)


def _send(conn: Connection, lock: threading.Lock, message) -> None:
    with lock:
        conn.send(message)


def _worker_main(
    conn: Connection, init: Callable[[], Any] | None, func: Callable[[Any, Any], Any], log_level: int = logging.WARNING
) -> None:
    # Ctrl-C reaches the whole process group; the parent decides how the pool stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lock = threading.Lock()
    root = logging.getLogger()
    root.handlers[:] = [_PipeLogHandler(conn, lock)]
    root.setLevel(log_level)
    try:
        state = init() if init is not None else None
    except Exception as exc:
        _send(conn, lock, ("init-error", f"{type(exc).__name__}: {exc}"))
        return
    _send(conn, lock, ("ready", None))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        index, payload = message
        try:
            result = func(state, payload)
        except Exception as exc:  # the task's own failure is data for the caller, not a worker crash
            result = TaskFailure(f"{type(exc).__name__}: {exc}")
        _send(conn, lock, (index, result))
        del result
        release_freed_memory()


class WorkerPool:
    """Run ``func(state, payload)`` in ``n`` spawned processes; ``state = init()`` once per worker.

    ``func`` and ``init`` must be importable top-level callables (spawn pickles them by name).
    """

    def __init__(
        self,
        n: int,
        func: Callable[[Any, Any], Any],
        init: Callable[[], Any] | None = None,
        timeout_s: float | None = None,
        log_level: int | None = None,
    ):
        if n < 1:
            raise ValueError(f"need at least one worker, got {n}")
        self.n, self.func, self.init, self.timeout_s = n, func, init, timeout_s
        # The workers log at the level the parent's root logger has now (the command line's -v).
        self.log_level = logging.getLogger().getEffectiveLevel() if log_level is None else log_level
        self._ctx = mp.get_context("spawn")
        self._slots: list[_Slot] = []
        self._aborted = threading.Event()

    def __enter__(self) -> WorkerPool:
        try:
            for _ in range(self.n):
                self._slots.append(self._start())
            for slot in list(self._slots):
                self._await_ready(slot)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> _Slot:
        if self._aborted.is_set():
            raise RunError("the worker pool is stopping")
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_worker_main, args=(child, self.init, self.func, self.log_level), daemon=True
        )
        process.start()
        child.close()
        return _Slot(process, parent)

    def _await_ready(self, slot: _Slot) -> None:
        while True:
            try:
                kind, message = slot.conn.recv()
            except (EOFError, OSError):
                slot.process.join()
                if self._aborted.is_set():
                    raise RunError("the worker pool was stopped while starting") from None
                raise WorkerInitError(
                    f"a worker process died while starting (exit code {slot.process.exitcode})"
                ) from None
            if kind != _LOG:
                break
            _handle_log(message)
        if kind != "ready":
            raise WorkerInitError(f"a worker process could not start: {message}")

    def abort(self) -> None:
        """Stop every worker now (safe from another thread); the task in flight is lost."""
        self._aborted.set()
        slots = list(self._slots)
        for slot in slots:
            if slot.process.is_alive():
                slot.process.terminate()
        deadline = time.monotonic() + _ABORT_GRACE_S
        for slot in slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()

    def close(self) -> None:
        if self._aborted.is_set():
            self.abort()
        for slot in self._slots:
            try:
                slot.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 5
        for slot in self._slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
            slot.conn.close()
        self._slots = []

    def imap_unordered(self, payloads: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, result)`` for each payload as workers finish; ``result`` may be a ``TaskFailure``.

        At most one task per worker is in flight, so memory is bounded by the worker count
        however long ``payloads`` is (it is consumed lazily).
        """
        todo = iter(enumerate(payloads))
        queue: deque[tuple[int, Any]] = deque()
        exhausted = False
        while True:
            for i, slot in enumerate(self._slots):
                if slot.task is None and not exhausted:
                    if not queue:
                        nxt = next(todo, None)
                        if nxt is None:
                            exhausted = True
                            continue
                        queue.append(nxt)
                    task = queue.popleft()
                    try:
                        slot.conn.send(task)
                    except OSError:
                        queue.appendleft(task)
                        slot.conn.close()
                        self._slots[i] = self._start()  # died while idle; give the task to a fresh one
                        self._await_ready(self._slots[i])
                        continue
                    slot.task, slot.started = task, time.monotonic()
            busy = [s for s in self._slots if s.task is not None]
            if not busy or self._aborted.is_set():
                return
            ready = wait([s.conn for s in busy] + [s.process.sentinel for s in busy], timeout=self._wait_s(busy))
            if self._aborted.is_set():
                return
            for i, slot in enumerate(self._slots):
                if slot.task is None:
                    continue
                index = slot.task[0]
                if slot.conn in ready:
                    try:
                        got_index, result = slot.conn.recv()
                    except (EOFError, OSError):
                        yield index, self._replace(i, None)
                        continue
                    if got_index == _LOG:
                        _handle_log(result)
                        continue
                    slot.task = None
                    yield got_index, result
                elif slot.process.sentinel in ready and not slot.conn.poll():
                    yield index, self._replace(i, None)
                elif self.timeout_s is not None and time.monotonic() - slot.started > self.timeout_s:
                    yield index, self._replace(i, f"timed out after {self.timeout_s:g} s")

    def _wait_s(self, busy: list[_Slot]) -> float | None:
        if self.timeout_s is None:
            return None
        oldest = min(s.started for s in busy)
        return max(0.05, oldest + self.timeout_s - time.monotonic())

    def _replace(self, i: int, message: str | None) -> TaskFailure:
        """Kill and replace worker ``i``; ``message=None`` means it died by itself."""
        slot = self._slots[i]
        if message is not None:
            slot.process.kill()
        slot.process.join()
        if message is None:
            message = f"worker process died (exit code {slot.process.exitcode})"
        if self._aborted.is_set():
            return TaskFailure(message)
        log.warning("worker %d: %s; starting a new one", slot.process.pid, message)
        slot.conn.close()
        self._slots[i] = self._start()
        self._await_ready(self._slots[i])
        return TaskFailure(message)


def _handle_log(fields: dict) -> None:
    """A worker's record, handled by the parent's logger of the same name (its handlers, its filters)."""
    record = logging.makeLogRecord(fields)
    logging.getLogger(record.name).handle(record)
