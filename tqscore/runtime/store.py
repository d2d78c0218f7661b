"""Crash-safe result storage: part files beside the output, assembled atomically at the end.

Rows are appended to ``<out>.parts/part-*.parquet``; each part is written to a temporary name
and renamed into place, so a part either exists whole or not at all. ``finalize`` writes the
deduplicated, path-sorted table to a temporary file and ``os.replace``-s it over ``<out>``; only
then are the parts removed. A kill at any point leaves either the old output or the new one,
never half of one, and every row already in a part survives for the next run.

Resume reads the previous output and the parts, newest last, and keeps one row per path. A row
counts as done for a file when its size, mtime, engine id and signals id match; anything else is
scored again and the new row replaces the old one. Rows are keyed on ``path_bytes``, the name exactly as
the file system holds it, so a name that is not UTF-8 resumes like any other (``path`` is its
printable form, which two different names could share).

The lock also makes it safe to remove the temporary files a killed run left (a SIGKILL in the
middle of a write gives ``atomic_write`` no chance to clean up): while it is held, no other
writer of this output exists.

A write that fails (a part or the final table) is one ``RunError`` naming the output: "disk
full" when the file system ran out of space, else what the system said. The parts already
written stay, so running the same command again after freeing space resumes from them.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tqscore.errors import RunError
from tqscore.io import atomic_write
from tqscore.signals import signal_definitions

log = logging.getLogger(__name__)

PART_GLOB = "part-*.parquet"


@dataclass(frozen=True)
class FileKey:
    """What makes a stored row valid for a file: same content stamp, same engines, same signal
    definitions (``tqscore.signals.signal_definitions`` of the row's ``signals_id``)."""

    path: bytes  # tqscore.media.discovery.path_bytes of the relative path
    size_bytes: int
    mtime_us: int
    engine_id: str | None
    definitions: str | None


def parts_dir_for(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


class ResultStore:
    """Append rows in parts; read back what is already done; assemble the final file."""

    def __init__(self, out: Path, schema: dict[str, pl.DataType], part_rows: int = 64):
        self.out = Path(out)
        self.schema = schema
        self.part_rows = part_rows
        self.parts_dir = parts_dir_for(self.out)
        self._pending: list[dict] = []
        self._run_tag = uuid.uuid4().hex[:8]
        self._seq = 0
        self._write_failed = False

    # ----- start of a run
    def lock(self) -> None:
        """Refuse a second run writing the same output; the kernel drops the lock if we are killed.

        Also where an output that cannot be written is found, before any work: a folder given as
        the file, a read-only or missing destination.
        """
        if self.out.is_dir():
            raise RunError("is a folder; --out takes the path of the Parquet file to write, e.g. "
                           f"{self.out / 'scores.parquet'}", self.out)
        lock_path = self.out.with_name(self.out.name + ".lock")
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._lock_handle = open(lock_path, "a+")
        except OSError as exc:
            raise self._write_error(exc, "its lock file", 0) from None
        try:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_handle.close()
            raise RunError(f"another tqscore batch is writing this output (it holds {lock_path})", self.out) from None
        self._remove_stale_temporaries()

    def _remove_stale_temporaries(self) -> None:
        stale = list(self.out.parent.glob(f".{self.out.name}.*.tmp"))
        if self.parts_dir.is_dir():
            stale += list(self.parts_dir.glob(".*.tmp"))
        for path in stale:
            path.unlink(missing_ok=True)
        if stale:
            log.info("removed %d temporary file(s) an interrupted run left beside %s", len(stale), self.out)

    def release(self) -> None:
        handle = getattr(self, "_lock_handle", None)
        if handle is not None:
            Path(handle.name).unlink(missing_ok=True)
            handle.close()
            self._lock_handle = None

    def reset(self) -> None:
        """``--no-resume``: forget earlier parts (the old output stays until finalize replaces it)."""
        if self.parts_dir.exists():
            shutil.rmtree(self.parts_dir)

    def load_previous(self) -> pl.DataFrame:
        """Rows of the previous output and of every part, one per path, later writes winning."""
        frames = []
        if self.out.exists():
            frames.append(self._read(self.out))
        for part in self._part_files():
            frames.append(self._read(part))
        if not frames:
            return pl.DataFrame(schema=self.schema)
        table = pl.concat(frames, how="vertical")
        return table.unique(subset="path_bytes", keep="last", maintain_order=True)

    def done_keys(self, previous: pl.DataFrame, redo_statuses: tuple[str, ...] = ()) -> set[FileKey]:
        """Keys of the rows that count as done; rows whose status is in ``redo_statuses`` do not."""
        if redo_statuses:
            previous = previous.filter(~pl.col("status").is_in(list(redo_statuses)))
        keys = previous.select(
            "path_bytes", "size_bytes", pl.col("mtime").dt.epoch("us").alias("mtime_us"), "engine_id", "signals_id"
        )
        return {FileKey(*row[:4], signal_definitions(row[4])) for row in keys.iter_rows()}

    # ----- during a run
    def add(self, row: dict) -> None:
        self._pending.append(row)
        log.debug("%s: %s", row["path"], row.get("status"))  # from here on a stop saves it
        if len(self._pending) >= self.part_rows:
            self.flush()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> None:
        if not self._pending:
            return
        frame = pl.DataFrame(self._pending, schema=self.schema)
        # Sortable names: time order across runs is the file order, so later rows win on resume.
        name = f"part-{time.time_ns():020d}-{self._run_tag}-{self._seq:06d}.parquet"
        self._write(frame, self.parts_dir / name, "a part file")
        self._seq += 1
        self._pending.clear()

    # ----- end of a run
    def finalize(self, paths: list[bytes], revise=None) -> pl.DataFrame:
        """Write ``out`` holding exactly one row for each of ``paths`` (``path_bytes``); return that table.
        ``revise(table) -> table``, if given, runs on the whole table first (the run's verdict rules)."""
        self.flush()
        table = self.load_previous()
        wanted = pl.DataFrame({"path_bytes": paths}, schema={"path_bytes": pl.Binary})
        table = wanted.join(table, on="path_bytes", how="inner").select(self.schema.keys()).sort("path", "path_bytes")
        missing = len(paths) - table.height
        if missing:
            raise RunError(f"{missing} of {len(paths)} files have no row; the run is incomplete", self.out)
        if revise is not None:
            table = revise(table)
        self._write(table, self.out, "the final table")
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        return table

    # ----- writing
    @property
    def write_failed(self) -> bool:
        """A write of this run failed: saving the pending rows again would only fail again."""
        return self._write_failed

    def _write(self, frame: pl.DataFrame, path: Path, what: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as tmp:
                frame.write_parquet(tmp)
        except (OSError, pl.exceptions.PolarsError) as exc:
            self._write_failed = True
            raise self._write_error(exc, what, frame.estimated_size()) from None

    def _write_error(self, exc: Exception, what: str, size: int) -> RunError:
        """The one line a user reads when the output cannot be written (no errno numbers, no internals)."""
        if disk_full(exc, self.out.parent, size):
            kept = f"the rows already saved are kept in {self.parts_dir.name}/; " if self._part_files() else ""
            return RunError(f"disk full: cannot write {what} ({_free_text(self.out.parent)}); {kept}free some "
                            "space and run the same command again to resume", self.out)
        if isinstance(exc, OSError):
            return RunError(f"cannot write here: {_OS_CAUSES.get(exc.errno) or exc.strerror or exc}", self.out)
        return RunError(f"cannot write {what}: {' '.join(str(exc).split())}", self.out)

    def _part_files(self) -> list[Path]:
        return sorted(self.parts_dir.glob(PART_GLOB)) if self.parts_dir.exists() else []

    def _read(self, path: Path) -> pl.DataFrame:
        """Read a stored table in this schema: columns added since are null, dropped ones ignored."""
        frame = pl.read_parquet(path)
        if "path_bytes" not in frame.columns and "path" in frame.columns:  # written before the column existed
            frame = frame.with_columns(pl.col("path").cast(pl.Binary).alias("path_bytes"))
        exprs = [
            (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in self.schema.items()
        ]
        return frame.select(exprs)


_OS_CAUSES = {errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
              errno.EPERM: "permission denied"}
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
# Bytes a Parquet file holds beyond its rows' in-memory size: the footer of the output schema
# (schema, per-column statistics) is ~24 KB (a 1-row table of `tqscore batch` is 24,733 bytes
# on disk for 697 bytes in memory; 66 rows 46,806 for 42,404), plus block rounding: 1 MiB
# covers both with room to spare.
PARQUET_OVERHEAD = 1 << 20


def disk_full(exc: Exception, folder: Path, size: int) -> bool:
    """Whether a failed write of ``size`` in-memory bytes into ``folder`` ran out of space.

    An ``OSError`` says so by its errno. Polars (Rust) wraps the system's error in its own text:
    "... underlying IO error: No space left on device (os error 28)" when the data pages fail,
    but "... Invalid thrift: transport error", with no errno at all, when the footer does. That
    text is not an API and has changed between polars versions, so where it carries no errno
    the file system decides: a write fails for lack of space when less is free than the table
    takes in memory plus ``PARQUET_OVERHEAD`` (a table's Parquet file is smaller than its
    in-memory size but for the footer: measured above).
    """
    if isinstance(exc, OSError):
        return exc.errno in _NO_SPACE
    codes = {int(code) for code in re.findall(r"os error (\d+)", str(exc))}
    if codes:
        return bool(codes & _NO_SPACE)
    try:
        return shutil.disk_usage(folder).free < size + PARQUET_OVERHEAD
    except OSError:
        return False


def _free_text(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 1024:.0f} KiB free there"
    except OSError:
        return "free space unknown"
