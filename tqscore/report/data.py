"""Reading a ``tqscore batch`` table for the report, the run's overview figures and the clips to hold back.

Columns are read generically against ``tqscore.runtime.schema``: whatever the file holds of
the schema is used, a column an older file lacks is simply left out of the page, and a column
the schema does not know is kept as it is. A file that is not a batch output (no ``path`` and
``status``), or holds no rows, is refused with a ``ReportError`` naming the file.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tqscore.errors import ReportError
from tqscore.layout import LABELS
from tqscore.runtime.schema import STAGES, STATUS_ERROR, STATUSES, columns

REQUIRED = ("path", "status")
SYNC_CURVE = "sync_curve"
VERDICT, REASONS = "verdict", "reasons"
# Error causes are grouped after the file name is cut off and digit runs are folded, so that
# "decord decodes 12 frames" and "decord decodes 40 frames" are one cause.
_DIGITS = re.compile(r"\d+")
EXAMPLES_PER_CAUSE = 3
# The first screen: fail before review; within a verdict the clip whose worst score (the lowest
# of the five) is lowest first, a row with no score at all (not analysed, no face) before any.
HELD_VERDICTS = ("fail", "review")


def load_scores(path: Path) -> pl.DataFrame:
    """The table at ``path`` with known columns cast to the schema and NaN/inf made null."""
    path = Path(path)
    if not path.is_file():
        raise ReportError("file not found", path)
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for a file that is not Parquet
        raise ReportError(f"not a readable Parquet file ({type(exc).__name__}: {exc})", path) from None
    missing = [name for name in REQUIRED if name not in frame.columns]
    if missing:
        raise ReportError(
            f"not a tqscore batch output: no {', '.join(repr(m) for m in missing)} column "
            f"(write one with `tqscore batch DIR --out FILE`)",
            path,
        )
    if frame.height == 0:
        raise ReportError("the table has no rows; nothing to report", path)
    schema = {c.name: c.dtype for c in columns()}
    casts = []
    for name in frame.columns:
        want = schema.get(name)
        if want is not None and frame.schema[name] != want:
            casts.append(pl.col(name).cast(want, strict=False))
    try:
        frame = frame.with_columns(casts) if casts else frame
    except Exception as exc:
        raise ReportError(f"a column does not have its tqscore type ({exc})", path) from None
    floats = [n for n, t in frame.schema.items() if t in (pl.Float32, pl.Float64)]
    if floats:
        frame = frame.with_columns(
            pl.when(pl.col(n).is_finite()).then(pl.col(n)).otherwise(None).alias(n) for n in floats
        )
    return frame


@dataclass
class ErrorCause:
    cause: str
    count: int
    examples: list[str] = field(default_factory=list)


@dataclass
class StageTime:
    stage: str
    description: str
    median_ms: float
    p95_ms: float
    mean_ms: float
    rows: int


@dataclass
class RunOverview:
    rows: int
    files: int
    statuses: list[tuple[str, int]]
    verdicts: list[tuple[str, int]]
    errors: list[ErrorCause]
    ids: dict[str, list[tuple[str, int]]]
    stages: list[StageTime]
    total_size_bytes: int | None
    total_duration_s: float | None
    scored_from: str | None
    scored_to: str | None


def error_cause(path: str, message: str) -> str:
    """The cause of an error message without the file name, digits folded."""
    text = message.strip()
    head, sep, rest = text.partition(": ")
    if sep and (head.endswith(path) or Path(head).name == Path(path).name):
        text = rest
    return _DIGITS.sub("N", text)


def summarise(frame: pl.DataFrame) -> RunOverview:
    statuses = _counts(frame, "status", order=STATUSES)
    verdicts = _counts(frame, VERDICT, order=("pass", "review", "fail")) if VERDICT in frame.columns else []
    errors: dict[str, ErrorCause] = {}
    if "error" in frame.columns:
        failed = frame.filter(pl.col("status") == STATUS_ERROR).select("path", "error")
        for row_path, message in failed.iter_rows():
            cause = error_cause(row_path, message or "no message")
            entry = errors.setdefault(cause, ErrorCause(cause, 0))
            entry.count += 1
            if len(entry.examples) < EXAMPLES_PER_CAUSE:
                entry.examples.append(message or row_path)
    ids = {name: _counts(frame, name, none_label="none")
           for name in ("model_id", "engine_id", "tqscore_version", "signals_id") if name in frame.columns}
    stages = []
    for stage, description in STAGES:
        name = f"ms_{stage}"
        if name not in frame.columns:
            continue
        values = frame.get_column(name).drop_nulls()
        if values.len() == 0:
            continue
        stages.append(StageTime(stage, description, float(values.median()), float(values.quantile(0.95)),
                                float(values.mean()), values.len()))
    scored = frame.get_column("scored_at").drop_nulls() if "scored_at" in frame.columns else None
    return RunOverview(
        rows=frame.height,
        files=frame.get_column("path").n_unique(),
        statuses=statuses,
        verdicts=verdicts,
        errors=sorted(errors.values(), key=lambda e: -e.count),
        ids=ids,
        stages=stages,
        total_size_bytes=_sum(frame, "size_bytes"),
        total_duration_s=_sum(frame, "duration_s"),
        scored_from=_stamp(scored.min()) if scored is not None and scored.len() else None,
        scored_to=_stamp(scored.max()) if scored is not None and scored.len() else None,
    )


def _counts(frame: pl.DataFrame, name: str, order: tuple[str, ...] = (), none_label: str | None = None):
    if name not in frame.columns:
        return []
    counter = Counter(frame.get_column(name).to_list())
    if none_label is not None and None in counter:
        counter[none_label] += counter.pop(None)
    counter.pop(None, None)
    known = [(key, counter.pop(key)) for key in order if key in counter]
    return known + sorted(counter.items(), key=lambda kv: -kv[1])


def _sum(frame: pl.DataFrame, name: str):
    if name not in frame.columns or frame.get_column(name).null_count() == frame.height:
        return None
    return frame.get_column(name).sum()


def _stamp(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def held_back(frame: pl.DataFrame, limit: int) -> tuple[pl.DataFrame, dict[str, int]]:
    """The ``limit`` most severe fail and review rows, and how many rows each verdict holds back."""
    if VERDICT not in frame.columns:
        return frame.head(0), {}
    held = frame.filter(pl.col(VERDICT).is_in(HELD_VERDICTS))
    counts = {v: held.filter(pl.col(VERDICT) == v).height for v in HELD_VERDICTS}
    order = [pl.col(VERDICT).replace_strict({v: i for i, v in enumerate(HELD_VERDICTS)}, return_dtype=pl.Int8)]
    scores = [name for name in LABELS if name in held.columns]
    if scores:
        order.append(pl.min_horizontal(scores))
    order.append(pl.col("path"))
    return held.sort(order, nulls_last=False).head(max(limit, 0)), counts


def plain_reason(reason: str) -> tuple[str, str]:
    """(code, the words a person reads) of a ``"code: text"`` reason; code is empty without one."""
    code, sep, text = reason.partition(": ")
    if sep and code and " " not in code:
        return code, text
    return "", reason
