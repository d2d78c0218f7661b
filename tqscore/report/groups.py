"""Groups of clips in a scores table (a generator, a setting, a source) and their figures.

A table's ``path`` is relative to the folder the batch scanned, so "the first folder level under
the input" is the path's first component: ``--group-by folder`` puts ``wav2lip/Obama.mp4`` in
group ``wav2lip``. Any other ``--group-by`` value is a Python regular expression with exactly one
capture group, searched in the path; the captured text is the group. A clip in no group (a file
directly under the input with ``folder``, a path the expression does not match) is counted and
named in the section's notes, never dropped without a word.

Per group and score: the mean over the clips that have the score, with a bootstrap 95 % interval
(clips resampled; ``tqscore.report.intervals``), and the share of clips per verdict. Groups are
ranked by the mean ``overall`` score (the scorer's summary of the other four), highest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from tqscore.errors import ReportError
from tqscore.layout import LABELS
from tqscore.numeric import finite_or_none
from tqscore.report.intervals import Resampler, mean_intervals

FOLDER = "folder"
RANK_SCORE = "overall"
VERDICTS = ("pass", "review", "fail")
NO_VERDICT = "none"  # a row the rules did not judge (a table written before verdicts existed)
EXAMPLES = 5  # paths named per note: enough to see the pattern of what was left out


@dataclass(frozen=True)
class Grouping:
    """How a path maps to its group: ``folder`` or a regular expression with one capture group."""

    spec: str
    pattern: re.Pattern | None

    def group_of(self, path: str) -> str | None:
        if self.pattern is None:
            head, sep, _ = path.partition("/")
            return head if sep and head else None
        match = self.pattern.search(path)
        return match.group(1) if match and match.group(1) else None


def parse_grouping(spec: str, option: str = "--group-by") -> Grouping:
    """``folder`` or a regex with exactly one capture group; a ``ReportError`` otherwise."""
    if spec == FOLDER:
        return Grouping(spec, None)
    return Grouping(spec, compile_one_group(spec, option))


def compile_one_group(spec: str, option: str) -> re.Pattern:
    try:
        pattern = re.compile(spec)
    except re.error as exc:
        raise ReportError(f"{option} {spec!r} is not a regular expression ({exc})") from None
    if pattern.groups != 1:
        raise ReportError(f"{option} {spec!r} needs exactly one capture group (...), it has {pattern.groups}")
    return pattern


def assign_groups(paths: pl.Series, grouping: Grouping) -> pl.Series:
    """The group of each path (null where it is in none), computed once per distinct path."""
    lookup = {p: grouping.group_of(p) for p in paths.unique().to_list() if p is not None}
    return paths.replace_strict(lookup, default=None, return_dtype=pl.String).alias("group")


@dataclass
class ScoreMean:
    mean: float
    low: float | None
    high: float | None
    count: int


@dataclass
class GroupRow:
    group: str
    rank: int
    clips: int
    errors: int
    verdicts: dict[str, float]  # share of the group's clips per verdict (VERDICTS, then NO_VERDICT)
    scores: dict[str, ScoreMean | None]
    values: dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # for the plot


@dataclass
class GroupTable:
    grouping: str
    scores: list[str]
    rows: list[GroupRow]
    ungrouped: int
    ungrouped_examples: list[str]


def group_table(frame: pl.DataFrame, groups: pl.Series, grouping: str) -> GroupTable:
    """Per-group means with bootstrap intervals and verdict shares, ranked by mean ``overall``."""
    scores = [name for name in LABELS if name in frame.columns]
    tagged = frame.with_columns(groups)
    rng = Resampler()
    rows = []
    for (name,), part in sorted(tagged.filter(pl.col("group").is_not_null()).group_by("group"),
                                key=lambda item: item[0][0]):
        rows.append(_group_row(name, part, scores, rng))
    rows = _ranked(rows, RANK_SCORE if RANK_SCORE in scores else (scores[0] if scores else None))
    loose = tagged.filter(pl.col("group").is_null()).get_column("path")
    return GroupTable(grouping, scores, rows, loose.len(), sorted(loose.head(EXAMPLES).to_list()))


def _group_row(name: str, part: pl.DataFrame, scores: list[str], rng: Resampler) -> GroupRow:
    values = (part.select(pl.col(s).cast(pl.Float64) for s in scores).to_numpy()
              if scores else np.empty((part.height, 0)))
    values = np.where(np.isfinite(values), values, np.nan)
    means = {}
    for score, interval in zip(scores, mean_intervals(values, rng) if scores else []):
        means[score] = None if interval is None else ScoreMean(
            interval[0], finite_or_none(interval[1]), finite_or_none(interval[2]), interval[3])
    verdict = part.get_column("verdict").to_list() if "verdict" in part.columns else [None] * part.height
    shares = {v: verdict.count(v) / part.height for v in VERDICTS}
    shares[NO_VERDICT] = sum(1 for v in verdict if v not in VERDICTS) / part.height
    errors = part.filter(pl.col("status") == "error").height
    columns = {s: values[:, j][np.isfinite(values[:, j])] for j, s in enumerate(scores)}
    return GroupRow(name, 0, part.height, errors, shares, means, columns)


def _ranked(rows: list[GroupRow], score: str | None) -> list[GroupRow]:
    def key(row: GroupRow):
        mean = row.scores.get(score) if score else None
        return (mean is None, -(mean.mean if mean else 0.0), row.group)

    rows = sorted(rows, key=key)
    for rank, row in enumerate(rows, start=1):
        row.rank = rank
    return rows


def group_frame(table: GroupTable) -> pl.DataFrame:
    """The group table as one row per group, for the CSV written beside the page."""
    records = []
    for row in table.rows:
        record = {"rank": row.rank, "group": row.group, "clips": row.clips, "errors": row.errors}
        record.update({f"share_{v}": round(row.verdicts[v], 4) for v in (*VERDICTS, NO_VERDICT)})
        for score in table.scores:
            mean = row.scores.get(score)
            record[f"{score}_mean"] = None if mean is None else round(mean.mean, 4)
            record[f"{score}_low"] = None if mean is None or mean.low is None else round(mean.low, 4)
            record[f"{score}_high"] = None if mean is None or mean.high is None else round(mean.high, 4)
            record[f"{score}_n"] = 0 if mean is None else mean.count
        records.append(record)
    return pl.DataFrame(records, infer_schema_length=None)
