"""Assembling the report: the clips to hold back, the groups and their paired comparison, the
run's overview, histograms, worst clips and the row table, into one page (and the CSV tables).

Cost is kept flat in the number of rows: histograms are computed by NumPy and drawn once per
column, the table travels as compact JSON columns (numbers to 3 significant digits, repeated
strings as a dictionary plus codes) that the page pages through itself, and pictures are
decoded for the worst clips only (each clip once, however many dimensions it is worst in).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from tqdm import tqdm

from tqscore.io import write_text_atomic
from tqscore.layout import LABELS
from tqscore.model.reference import RANGE_SIGNALS, REFERENCE_DURATION_S, comparable_value
from tqscore.report import page, plots
from tqscore.report.command import DEFAULT_HELD, DEFAULT_TOP
from tqscore.report.data import REASONS, SYNC_CURVE, VERDICT, held_back, load_scores, summarise
from tqscore.report.groups import GroupTable, assign_groups, compile_one_group, group_frame, group_table, parse_grouping
from tqscore.report.paired import Comparison, compare, pair_frame, ranking_frame
from tqscore.runtime.schema import STATUS_OK

log = logging.getLogger(__name__)

# What the report is held to (docs/report.md, "Measured"): a night's 100,000-row table is built
# within a minute and stays small enough to mail or keep as a CI artefact.
BUILD_LIMIT_S, SIZE_LIMIT_MB = 60.0, 25.0
# Signals shown as columns of the row table (the histograms show every signal). Chosen to cover
# each thing a person checks first: sync, speech, audio quality, face presence, freezes,
# shakiness, a frozen mouth, head motion and picture sharpness. Absent ones are skipped.
TABLE_SIGNALS = (
    "sync_offset_frames", "sync_confidence", "speech_ratio", "dnsmos_ovrl", "face_present_ratio",
    "frozen_frame_ratio", "landmark_jitter", "mouth_motion_speech", "head_rotation_speed_dps", "face_sharpness",
)
SIGNIFICANT_DIGITS = 3  # table values: enough to rank and compare, a third of the bytes of float32 repr
DICTIONARY_MAX_SHARE = 0.5  # a string column is dictionary-coded when it has at most this share of distinct values


@dataclass(frozen=True)
class ReportConfig:
    scores: Path
    out: Path
    videos: Path | None = None
    top: int = DEFAULT_TOP
    progress: bool = True
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)  # processes decoding worst clips
    held: int = DEFAULT_HELD
    group_by: str | None = None  # "folder" or a regex with one capture group (tqscore.report.groups)
    match: str | None = None  # regex with one capture group over file names: the input of a clip


@dataclass
class ReportStats:
    rows: int
    clips_decoded: int
    bytes: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    csv: list[Path] = field(default_factory=list)


@dataclass
class Histogram:
    name: str
    kind: str  # "score" | "signal"
    description: str
    image: str
    count: int
    nulls: int
    band: tuple[float, float] | None


@dataclass
class ClipCard:
    rank: int
    path: str
    href: str | None
    value: float | None  # the score the card is ranked by
    verdict: str | None
    reasons: list[str]
    scores: dict[str, float | None]
    frames: str | None
    mouths: str | None
    thumb: str | None
    placeholder: str | None
    curve: str | None


@dataclass
class Groups:
    table: GroupTable
    plot: str | None
    comparison: Comparison


class _Clock:
    """Seconds per phase of the build, for ``ReportStats.timings``."""

    def __init__(self):
        self.start = self.mark = time.perf_counter()
        self.timings: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = now - self.mark
        self.mark = now


def write_report(cfg: ReportConfig) -> ReportStats:
    """Read ``cfg.scores`` and write the page to ``cfg.out`` (atomically), and with ``group_by`` the CSV tables."""
    grouping = parse_grouping(cfg.group_by) if cfg.group_by else None
    match = compile_one_group(cfg.match, "--match") if cfg.match else None
    clock = _Clock()
    frame = load_scores(cfg.scores)
    overview = summarise(frame)
    held, held_counts = held_back(frame, cfg.held)
    clock.lap("read")
    groups = _groups(frame, grouping, match) if grouping else None
    clock.lap("groups")
    histograms = _histograms(frame)
    stage_plot = plots.stage_times([(s.stage, s.median_ms, s.p95_ms) for s in overview.stages if s.stage != "total"]) \
        if any(s.stage != "total" for s in overview.stages) else None
    clock.lap("plots")
    link_prefix = _link_prefix(cfg.out, cfg.videos)
    worst, held_cards, decoded = _cards(frame, held, cfg, link_prefix)
    clock.lap("worst")
    table = _table(frame, link_prefix)
    clock.lap("table")
    html = page.render(page.Content(
        source=cfg.scores, summary=overview, stage_plot=stage_plot, histograms=histograms, worst=worst,
        held=held_cards, held_counts=held_counts, groups=groups, table=table, videos=cfg.videos, top=cfg.top))
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, html)
    written = _write_csv(out, groups) if groups else []
    clock.lap("page")
    stats = ReportStats(frame.height, decoded, out.stat().st_size, time.perf_counter() - clock.start,
                        clock.timings, written)
    log.debug("wrote %s: %d rows, %d clips decoded, %.1f MB in %.1f s", out, stats.rows, decoded,
              stats.bytes / 1e6, stats.seconds)
    return stats


def _groups(frame: pl.DataFrame, grouping, match) -> Groups:
    labels = assign_groups(frame.get_column("path"), grouping)
    table = group_table(frame, labels, grouping.spec)
    plot = plots.group_multiples(table.rows, table.scores) if table.rows else None
    return Groups(table, plot, compare(frame, labels, match))


def csv_paths(out: Path) -> dict[str, Path]:
    """The CSV files written beside the page: the groups, the paired table and the ranking."""
    out = Path(out)
    return {name: out.with_name(f"{out.stem}-{name}.csv") for name in ("groups", "pairs", "ranking")}


def _write_csv(out: Path, groups: Groups) -> list[Path]:
    paths = csv_paths(out)
    tables = {"groups": group_frame(groups.table)}
    if groups.comparison.pairs:
        tables.update(pairs=pair_frame(groups.comparison), ranking=ranking_frame(groups.comparison))
    for name, table in tables.items():
        write_text_atomic(paths[name], table.write_csv())
    return [paths[name] for name in tables]


def _signal_meta() -> dict[str, object]:
    from tqscore.signals import SIGNAL_COLUMNS

    return {c.name: c for c in SIGNAL_COLUMNS}


def _band(name: str) -> tuple[float, float] | None:
    from tqscore.signals.reference import reference_band

    band = reference_band(name)
    return None if band is None else (float(band.low), float(band.high))


def _as_compared(frame: pl.DataFrame, name: str) -> np.ndarray:
    """A column's values as the scorer compares them with the real-footage band: a head range is
    read at the reference duration from each row's signal span, so clip and band share one scale."""
    if name not in RANGE_SIGNALS or "signal_span_s" not in frame.columns:
        return frame.get_column(name).drop_nulls().to_numpy()
    rows = frame.select(name, "signal_span_s").iter_rows(named=True)
    values = [comparable_value(row, name) for row in rows]
    return np.array([v for v in values if v is not None], dtype=np.float64)


def _histograms(frame: pl.DataFrame) -> list[Histogram]:
    meta = _signal_meta()
    wanted = [(name, "score") for name in LABELS] + [(name, "signal") for name in meta]
    out = []
    for name, kind in wanted:
        if name not in frame.columns or not frame.schema[name].is_numeric():
            continue
        series = frame.get_column(name)
        values = _as_compared(frame, name)
        if len(values) == 0:
            continue
        info = meta.get(name)
        unit = "score (1-5)" if kind == "score" else getattr(info, "unit", "")
        description = f"{name} score" if kind == "score" else getattr(info, "description", "")
        if name in RANGE_SIGNALS:
            description += f" Drawn as read at {REFERENCE_DURATION_S} s of signal, as the band is (docs/scores.md)."
        band = _band(name)
        image = plots.histogram(values, name, unit, band, integer=series.dtype.is_integer())
        out.append(Histogram(name, kind, description, image, len(values), series.null_count(), band))
    return out


def _link_prefix(out: Path, videos: Path | None) -> str | None:
    """URL prefix from the page's folder to the videos folder (None without --videos)."""
    if videos is None:
        return None
    rel = os.path.relpath(Path(videos).resolve(), Path(out).resolve().parent)
    return "" if rel == "." else Path(rel).as_posix().rstrip("/") + "/"


def _href(prefix: str | None, path: str) -> str | None:
    from urllib.parse import quote

    return None if prefix is None else prefix + quote(path)


def _cards(frame: pl.DataFrame, held: pl.DataFrame, cfg: ReportConfig, prefix: str | None):
    """(worst clips per dimension, held-back clips, clips decoded): each clip decoded once."""
    chosen: dict[str, pl.DataFrame] = {}
    for label in LABELS:
        if label not in frame.columns or cfg.top <= 0:
            continue
        rows = frame.filter((pl.col("status") == STATUS_OK) & pl.col(label).is_not_null())
        chosen[label] = rows.sort([label, "path"]).head(cfg.top)
    paths = sorted({p for rows in (*chosen.values(), held) for p in rows.get_column("path").to_list()})
    strips = _decode_all(paths, cfg)
    decoded = sum(1 for s in strips.values() if not isinstance(s, str))
    curves: dict[str, str | None] = {}

    def cards(rows: pl.DataFrame, label: str) -> list[ClipCard]:
        return [_card(rank, row, label, strips[row["path"]], curves, prefix)
                for rank, row in enumerate(rows.iter_rows(named=True), start=1)]

    worst = {label: cards(rows, label) for label, rows in chosen.items()}
    return worst, cards(held, "overall"), decoded


def _card(rank: int, row: dict, label: str, strip, curves: dict, prefix: str | None) -> ClipCard:
    if row["path"] not in curves:
        curves[row["path"]] = _curve_image(row)
    pictures = not isinstance(strip, str)
    return ClipCard(
        rank=rank, path=row["path"], href=_href(prefix, row["path"]), value=row.get(label),
        verdict=row.get(VERDICT), reasons=list(row.get(REASONS) or []),
        scores={name: row.get(name) for name in LABELS if name in row},
        frames=strip.frames if pictures else None, mouths=strip.mouths if pictures else None,
        thumb=strip.thumb if pictures else None, placeholder=None if pictures else strip,
        curve=curves[row["path"]],
    )


def _curve_image(row: dict) -> str | None:
    curve = row.get(SYNC_CURVE)
    if curve is None or len(curve) < 3 or not all(v is not None and np.isfinite(v) for v in curve):
        return None
    return plots.sync_curve(np.asarray(curve, np.float64), row.get("sync_offset_frames"))


def _missing_reason(videos: Path | None, path: str) -> str | None:
    """Why a clip cannot be decoded before trying (the text its placeholder shows), or None."""
    if videos is None:
        return "no frames: run with --videos DIR to show them"
    file = Path(videos) / path
    return None if file.is_file() else f"video not found: {file}"


def _strips_or_reason(file: Path):
    """The clip's strips, or the text a placeholder shows instead (runs in a worker process)."""
    from tqscore.media import MediaError
    from tqscore.report.thumbs import clip_strips

    try:
        return clip_strips(file)
    except (MediaError, OSError) as exc:
        log.warning("report: no frames for %s: %s", file, exc)
        return f"could not decode: {exc}"


def _decode_all(paths: list[str], cfg: ReportConfig) -> dict[str, object]:
    """Strips per path; several clips at once in spawned processes (MediaPipe is not fork-safe)."""
    strips: dict[str, object] = {}
    todo = []
    for path in paths:
        reason = _missing_reason(cfg.videos, path)
        if reason is None:
            todo.append(path)
        else:
            strips[path] = reason
    workers = min(cfg.workers, len(todo))
    with tqdm(total=len(todo), desc="report: clips shown", unit="clip", disable=not cfg.progress) as bar:
        if workers <= 1:
            for path in todo:
                strips[path] = _strips_or_reason(Path(cfg.videos) / path)
                bar.update()
            return strips
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(_strips_or_reason, Path(cfg.videos) / path): path for path in todo}
            for future in as_completed(futures):
                strips[futures[future]] = future.result()
                bar.update()
    return strips


def _table(frame: pl.DataFrame, prefix: str | None) -> dict:
    """Every row as compact JSON-ready columns for the page's table."""
    columns = [_string_column(frame, "path", dictionary=False)]
    for name in ("status", VERDICT):
        if name in frame.columns:
            columns.append(_string_column(frame, name, dictionary=True))
    if REASONS in frame.columns and isinstance(frame.schema[REASONS], pl.List):
        columns.append(_list_column(frame, REASONS))
    numeric = [n for n in (*LABELS, *TABLE_SIGNALS, "duration_s") if n in frame.columns and frame.schema[n].is_numeric()]
    for name in numeric:
        columns.append(_numeric_column(frame, name))
    if "error" in frame.columns:
        errors = frame.select(pl.int_range(pl.len()).alias("i"), "error").filter(pl.col("error").is_not_null())
        columns.append({"name": "error", "kind": "sparse",
                        "values": dict(zip(map(str, errors.get_column("i").to_list()), errors.get_column("error").to_list()))})
    return {"n": frame.height, "link_prefix": prefix, "columns": columns}


def _string_column(frame: pl.DataFrame, name: str, dictionary: bool) -> dict:
    series = frame.get_column(name).cast(pl.String)
    if dictionary and series.n_unique() <= max(1, DICTIONARY_MAX_SHARE * frame.height):
        values = sorted(v for v in series.unique().to_list() if v is not None)
        index = {v: i for i, v in enumerate(values)}
        return {"name": name, "kind": "cat", "dict": values, "codes": [index.get(v) for v in series.to_list()]}
    return {"name": name, "kind": "str", "values": series.to_list()}


def _list_column(frame: pl.DataFrame, name: str) -> dict:
    lists = frame.get_column(name).to_list()
    values = sorted({v for items in lists if items for v in items if v is not None})
    index = {v: i for i, v in enumerate(values)}
    return {"name": name, "kind": "list", "dict": values,
            "codes": [[index[v] for v in items if v is not None] if items else [] for items in lists]}


def _numeric_column(frame: pl.DataFrame, name: str) -> dict:
    series = frame.get_column(name)
    if series.dtype.is_float():
        series = series.cast(pl.Float64).round_sig_figs(SIGNIFICANT_DIGITS)
    return {"name": name, "kind": "num", "values": series.to_list()}
