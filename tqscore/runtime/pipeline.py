"""The streaming batch pipeline: discover -> plan the resume -> analyse and score -> store.

A run lists its files, leaves out those whose stored row is still valid, and takes the rest
through the run's scorer (``tqscore.runtime.scoring.make_scorer``: this machine's workers and
engines, or a Ray cluster; the pipeline does not ask which). Each (analysis, scores) becomes a
row here (statuses, the NaN guard, the verdict rules) and goes to the one writer
(``ResultStore``), which saves parts as it goes and the whole table atomically at the end.

Stopping (Ctrl-C, SIGTERM from a scheduler) saves the finished rows first and then leaves the
scorer's block, which ends its work at once; the clips in flight are redone by the next run.

Progress is tqdm's bar on a terminal (worker and library log lines are printed above it,
through ``logging_redirect_tqdm``); without a terminal (a pod's log) it is a log line every
30 s, so no carriage return lands in a log file.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial

import polars as pl
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from tqscore import __version__
from tqscore.media.discovery import Scan, display_path, left_out_text, path_bytes, scan
from tqscore.model.rules import evaluate, load_rules
from tqscore.numeric import finite_row
from tqscore.runtime.analyse import Analysis, ClipTask, error_analysis
from tqscore.runtime.config import BatchConfig, scoring_decode_device
from tqscore.runtime.schema import STATUS_ERROR, STATUS_OK, output_schema
from tqscore.runtime.scoring import Scorer, make_scorer
from tqscore.runtime.store import FileKey, ResultStore
from tqscore.signals import signal_definitions, signals_id

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
LOG_PROGRESS_EVERY_S = 30.0  # without a terminal: one progress line per 30 s keeps a night's log short
SUMMARY_FAILED = 10  # failed files named in the closing summary; the rest are in the table


@dataclass
class RunSummary:
    files: int = 0  # files this run is responsible for (after sharding)
    skipped: int = 0  # already scored by an earlier run (resume)
    processed: int = 0  # analysed (and scored) by this run
    seconds: float = 0.0
    status_counts: Counter = field(default_factory=Counter)  # over ALL rows of the output
    out: str = ""
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, error) of the first rows not ok
    left_out: Counter = field(default_factory=Counter)  # files left out by extension: count per extension

    @property
    def clips_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    @property
    def all_ok(self) -> bool:
        return set(self.status_counts) <= {STATUS_OK}

    def lines(self) -> list[str]:
        counts = ", ".join(f"{status} {n}" for status, n in sorted(self.status_counts.items())) or "none"
        lines = [
            f"files: {self.files} (scored now {self.processed}, already done {self.skipped})",
            f"rows by status: {counts}",
        ]
        if self.left_out:
            lines.append(f"left out by extension: {left_out_text(self.left_out)}; --ext chooses the extensions")
        if self.processed:
            lines.append(f"time: {self.seconds:.1f} s, {self.clips_per_s:.2f} clips/s")
        else:
            lines.append("nothing to do: every file already has its row (--retry-errors redoes the error rows, "
                         "--no-resume every row)")
        not_ok = sum(n for status, n in self.status_counts.items() if status != STATUS_OK)
        if not_ok:
            if not_ok > len(self.failed):
                lines.append(f"files not ok (first {len(self.failed)} of {not_ok}; all of them are the rows of "
                             f"{self.out} whose status is not ok):")
            else:
                lines.append(f"files not ok ({not_ok}):")
            lines += [f"  {path}: {error}" for path, error in self.failed]
        return lines


def run_batch(cfg: BatchConfig) -> RunSummary:
    """Score every video under ``cfg.input_dir`` into ``cfg.out``. Raises on run-level failure."""
    started = time.monotonic()
    found, listed = _discover(cfg)
    rules = load_rules(cfg.rules)  # a bad --rules file fails the run before any work
    scorer = make_scorer(cfg)
    store = ResultStore(cfg.out, output_schema(), part_rows=cfg.part_rows)
    store.lock()
    try:
        signals = signals_id()
        done = _stored_keys(cfg, store, signals)
        tasks, pre_failed = _plan(cfg, found.files, done, scorer.engine_id, signal_definitions(signals),
                                  scorer.needs_inputs, listed)
        pre_failed += _unreadable_folders(cfg, found, scorer.needs_inputs)
        _store_rows(cfg, store, scorer, rules, tasks, pre_failed)
        keys = [path_bytes(rel) for rel in found.files] + [path_bytes(rel) for rel, _ in found.unreadable]
        table = store.finalize(keys, revise=partial(_revise, scorer=scorer, rules=rules, signals=signals))
    except BaseException:
        _save_pending(store)
        raise
    finally:
        store.release()
    todo = len(tasks) + len(pre_failed)
    failed = table.filter(pl.col("status") != STATUS_OK)
    return RunSummary(files=len(keys), skipped=len(keys) - todo, processed=todo, seconds=time.monotonic() - started,
                      status_counts=Counter(table["status"].to_list()), out=display_path(str(cfg.out)),
                      failed=list(failed.select("path", "error").head(SUMMARY_FAILED).iter_rows()),
                      left_out=found.left_out)


def _stored_keys(cfg: BatchConfig, store: ResultStore, signals: str) -> set[FileKey]:
    """Keys of the stored rows that still count as done (none with ``--no-resume``)."""
    if not cfg.resume:
        store.reset()
        return set()
    previous = store.load_previous()
    _log_other_signals(previous, signals)
    return store.done_keys(previous, (STATUS_ERROR,) if cfg.retry_errors else ())


def _unreadable_folders(cfg: BatchConfig, found: Scan, need_inputs: bool) -> list[Analysis]:
    """An error row for each folder that could not be read: its files are unknown, its row says so."""
    rows = []
    for rel, cause in found.unreadable:
        task = ClipTask(rel, str(cfg.input_dir / rel), None, None, cfg.decode_device, need_inputs)
        rows.append(error_analysis(task, f"{cfg.input_dir / rel}: cannot read folder: {cause}"))
    return rows


def _store_rows(cfg: BatchConfig, store: ResultStore, scorer: Scorer, rules, tasks: list[ClipTask],
                pre_failed: list[Analysis]) -> None:
    """A row for every file planned: the ones already failed, then the scorer's, as they finish."""
    with _Progress(len(tasks) + len(pre_failed), cfg.progress) as bar:
        for analysis in pre_failed:
            store.add(_row(analysis, None, scorer, rules))
            bar.update()
        if not tasks:
            return
        _log_decoding(cfg.decode_device)
        with scorer.scored(cfg, tasks) as results:
            try:
                for analysis, scores in results:
                    store.add(_row(analysis, scores, scorer, rules))
                    bar.update()
            except BaseException:
                _save_pending(store)  # the finished rows first; leaving the block ends the work in flight
                raise


def _discover(cfg: BatchConfig) -> tuple[Scan, dict | None]:
    """The run's files, and for an object-store URI each file's (size, mtime) from its listing;
    said in the log with the files left out by their extension."""
    listed = None
    if cfg.input_is_uri:
        from tqscore.runtime.ray_batch import scan_uri

        found, listed = scan_uri(str(cfg.input_dir), cfg.extensions, cfg.shard)
    else:
        found = scan(cfg.input_dir, cfg.extensions, cfg.shard)
    left_out = f"; left out by extension: {left_out_text(found.left_out)}" if found.left_out else ""
    if found.files or found.unreadable:
        log.info("%d video files under %s (shard %s)%s", len(found.files), cfg.input_dir, cfg.shard, left_out)
    else:
        log.warning("no video files under %s (extensions %s, shard %s)%s: the output will be empty",
                    cfg.input_dir, ",".join(cfg.extensions), cfg.shard, left_out)
    return found, listed


def _save_pending(store: ResultStore) -> None:
    """On the way out of a failed or interrupted run, keep the finished rows not yet in a part
    (unless a write already failed: another would fail the same way, a full disk most likely)."""
    if store.write_failed:
        return
    try:
        store.flush()
    except Exception as exc:
        log.error("could not save the last %d finished rows: %s", store.pending, exc)


def _log_decoding(decode_device: str) -> None:
    """Said once per run, by the main process rather than by every worker."""
    from tqscore.media import gpu_decoding_available

    if decode_device == "auto" and not gpu_decoding_available():
        log.info("decoding on the CPU: no GPU decoding here (PyNvVideoCodec and an NVIDIA GPU)")


def _log_other_signals(previous, current: str) -> None:
    """Say how many stored rows will be analysed again because other signal definitions made them
    (the definitions part of their signals_id differs from this tqscore's)."""
    definitions = signal_definitions(current)
    stored = previous["signals_id"].map_elements(signal_definitions, return_dtype=pl.String)
    other = previous.filter(stored.is_null() | (stored != definitions))
    if other.height:
        ids = ", ".join(sorted({i or "none (before signals_id)" for i in other["signals_id"].to_list()}))
        log.warning("%d of %d stored rows were made with other signal definitions (signals_id %s; this tqscore "
                    "makes %s): their files are analysed again", other.height, previous.height, ids, current)


def _plan(cfg, files, done, engine_id, signals, need_inputs, listed=None):
    """Tasks for the files not yet done (``done``: keys of stored rows; ``signals``: this run's
    signal definitions); files that cannot even be stat-ed become error rows now."""
    tasks, failed = [], []
    decode = scoring_decode_device(cfg.decode_device, need_inputs)
    for rel in files:
        if listed is not None:  # an object-store URI (--ray): the listing gave size and mtime
            size, mtime_us = listed[rel]
            task = ClipTask(rel, f"{str(cfg.input_dir).rstrip('/')}/{rel}", size, mtime_us, decode, need_inputs)
            if FileKey(path_bytes(rel), size, mtime_us, engine_id, signals) not in done:
                tasks.append(task)
            continue
        path = cfg.input_dir / rel
        try:
            info = path.stat()
        except OSError as exc:
            task = ClipTask(rel, str(path), None, None, decode, need_inputs)
            failed.append(error_analysis(task, f"{path}: cannot stat file: {exc.strerror or exc}"))
            continue
        task = ClipTask(rel, str(path), info.st_size, info.st_mtime_ns // 1000, decode, need_inputs)
        if FileKey(path_bytes(rel), info.st_size, task.mtime_us, engine_id, signals) not in done:
            tasks.append(task)
    return tasks, failed


class _Progress:
    """tqdm's bar on a terminal, with log lines printed above it; otherwise a log line every 30 s."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled = total, 0, enabled
        self._bar = self._redirect = None
        self._started = self._last = time.monotonic()

    def __enter__(self) -> _Progress:
        if self.enabled and self.total and sys.stderr.isatty():
            self._bar = tqdm(total=self.total, unit="clip", desc="tqscore batch", smoothing=0.1, mininterval=0.5)
            self._redirect = logging_redirect_tqdm()
            self._redirect.__enter__()
        return self

    def update(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)
            return
        now = time.monotonic()
        if self.enabled and now - self._last >= LOG_PROGRESS_EVERY_S and self.done < self.total:
            self._last = now
            rate = self.done / (now - self._started)
            log.info("%d/%d files, %.2f files/s, about %.0f min left", self.done, self.total, rate,
                     (self.total - self.done) / rate / 60)

    def __exit__(self, *exc) -> None:
        if self._redirect is not None:
            self._redirect.__exit__(*exc)
        if self._bar is not None:
            self._bar.close()


def _row(analysis: Analysis, scores, scorer, rules) -> dict:
    shown = display_path(analysis.task.rel)
    row = {
        "path": shown,
        "path_bytes": path_bytes(analysis.task.rel),
        "size_bytes": analysis.task.size_bytes,
        "mtime": _utc(analysis.task.mtime_us),
        "status": analysis.status,
        "error": analysis.error,
        **analysis.meta,
        **(scores.values if scores is not None else {}),
        "model_id": scorer.model_id,
        "engine_id": scorer.engine_id,
        "tqscore_version": __version__,
        "signals_id": signals_id(),
        "scored_at": datetime.now(timezone.utc),
        **{f"ms_{k}": v for k, v in analysis.ms.items()},
        **(({f"ms_{k}": v for k, v in scores.ms.items()}) if scores is not None else {}),
        **analysis.signals,
    }
    if scores is not None and analysis.ms.get("total") is not None:
        row["ms_total"] = analysis.ms["total"] + sum(scores.ms.values())
    if analysis.status == STATUS_ERROR:
        row["error"] = row["error"] or "unknown error"
    if row["error"] is not None:
        row["error"] = display_path(row["error"])  # names the file, which may not be UTF-8
    finite_row(row, shown)
    row["score_causes"] = list(scores.causes) if scores is not None else []
    row["verdict"], row["reasons"] = evaluate(row, rules, row["score_causes"])
    return row


def _revise(table: pl.DataFrame, scorer, rules, signals: str) -> pl.DataFrame:
    """The whole table at the end of a run: rows scored by another scorer or against another
    real-footage reference scored again, then every verdict. Every row's signals then have this
    run's definitions (others were analysed again), and its grades this run's reference."""
    table = scorer.rescore_stored(table, signals)
    return apply_rules(table, rules).with_columns(pl.lit(signals, pl.String).alias("signals_id"))


def apply_rules(table: pl.DataFrame, rules) -> pl.DataFrame:
    """Verdict and reasons of every row from this run's rules, resumed rows included, so a changed
    ``--rules`` file (or rules.yaml) takes effect without analysing any file again; rows read
    back as stored (float32), so a resumed run's verdicts equal an uninterrupted one's. Every row
    here has ``score_causes``: a row made before the column has no signals_id either, so this run
    analysed its file again."""
    if table.is_empty():
        return table
    verdicts, reasons = [], []
    for row in table.drop("sync_curve").iter_rows(named=True):  # no rule reads the per-offset curve
        verdict, why = evaluate(row, rules, row["score_causes"])
        verdicts.append(verdict)
        reasons.append(why)
    return table.with_columns(pl.Series("verdict", verdicts, pl.String),
                              pl.Series("reasons", reasons, pl.List(pl.String)))


def _utc(mtime_us: int | None) -> datetime | None:
    # Integer arithmetic: a float timestamp can be off by a microsecond and break the resume key.
    return None if mtime_us is None else _EPOCH + timedelta(microseconds=mtime_us)
