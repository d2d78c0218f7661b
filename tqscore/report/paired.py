"""Paired comparison of groups on the inputs they share, and the ranking it gives.

Two generators (or two settings of one) run on the same inputs give one clip each per input;
comparing them input by input removes the inputs' own difficulty from the comparison, which is
what talking-head papers and THEval-style benchmarks report: "A beats B on lip sync on 72 % of
the shared inputs [60-82 %]".

The input of a clip is its file name (``wav2lip/Obama.mp4`` and ``sadtalker/Obama.mp4`` share the
input ``Obama.mp4``) or, with ``--match REGEX``, the text the expression's one capture group
takes from the file name (``--match '^([^_]+)_'`` pairs ``real/Obama_slice.mp4`` with
``wav2lip/Obama_Obama.mp4``). For every pair of groups and every score, each shared input is one
of four outcomes, all counted: the first group's score is higher (a win), the second's is, both
are equal (a tie), or one of the two is null or an error row (missing). Shares are of the shared
inputs, so the four add up to 100 %; a win share's 95 % interval is its exact percentile
bootstrap over inputs (``tqscore.report.intervals.share_interval``).

The ranking is each group's **win share**: of all its paired comparisons with a score on both
sides (every other group, every shared input), the share it wins, a tie counting half; with a
bootstrap 95 % interval over inputs (``RESAMPLES`` resamples, fixed seed). Chosen over a
Bradley-Terry fit because (1) in the design this section is for, every group run on the same
inputs, the win totals are a Bradley-Terry model's sufficient statistic, so both give the same
order; (2) with a handful of inputs one group often wins every comparison, where the
Bradley-Terry likelihood has no maximum and a fit needs a prior of its own choosing; (3) it is
in the units of the paired table, so the ranking reads like the pairs it comes from. Groups
are ranked by their win share on ``overall``. A clip whose input appears twice in its group
(``--group-by`` ignores a sub-folder, say) is ambiguous and left out of the pairing; such clips,
names ``--match`` does not match, and groups that share no input are counted in the notes.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from tqscore.layout import LABELS
from tqscore.numeric import finite_or_none
from tqscore.report.groups import EXAMPLES, RANK_SCORE
from tqscore.report.intervals import SEED, Resampler, percentiles, ratio_resamples, share_interval

FILE_NAME = "file name"
PAIR_SCHEMA = {
    "first": pl.String, "second": pl.String, "score": pl.String, "inputs": pl.Int64, "first_wins": pl.Int64,
    "second_wins": pl.Int64, "ties": pl.Int64, "missing": pl.Int64, "first_share": pl.Float64,
    "first_low": pl.Float64, "first_high": pl.Float64, "second_share": pl.Float64, "second_low": pl.Float64,
    "second_high": pl.Float64, "tie_share": pl.Float64, "missing_share": pl.Float64,
}


@dataclass
class PairScore:
    n: int
    first: int
    second: int
    ties: int
    missing: int
    first_interval: tuple[float, float]
    second_interval: tuple[float, float]

    def swapped(self) -> PairScore:
        return PairScore(self.n, self.second, self.first, self.ties, self.missing,
                         self.second_interval, self.first_interval)


@dataclass
class Pair:
    first: str
    second: str
    n: int
    scores: dict[str, PairScore]


@dataclass
class WinShare:
    share: float | None
    low: float | None
    high: float | None
    compared: int  # comparisons with a score on both sides
    missing: int  # comparisons on a shared input where one side has no score


@dataclass
class RankRow:
    group: str
    rank: int
    inputs: int
    scores: dict[str, WinShare]


@dataclass
class Comparison:
    key: str  # FILE_NAME or the --match expression
    scores: list[str]
    pairs: list[Pair] = field(default_factory=list)
    ranking: list[RankRow] = field(default_factory=list)
    unpaired: list[tuple[str, int]] = field(default_factory=list)  # (group, clips) sharing no input
    unshared_pairs: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # paths left out: their input twice in a group
    unmatched: list[str] = field(default_factory=list)  # paths whose name --match does not match


def input_keys(paths: pl.Series, match) -> pl.Series:
    """Each path's input: its file name, or the capture of ``match`` in the file name (null: no match)."""
    def key(path: str) -> str | None:
        name = path.rsplit("/", 1)[-1]
        if match is None:
            return name
        found = match.search(name)
        return found.group(1) if found and found.group(1) else None

    lookup = {p: key(p) for p in paths.unique().to_list() if p is not None}
    return paths.replace_strict(lookup, default=None, return_dtype=pl.String).alias("input")


def compare(frame: pl.DataFrame, groups: pl.Series, match=None) -> Comparison:
    """Every pair of groups on every score over their shared inputs, and the win-share ranking."""
    scores = [name for name in LABELS if name in frame.columns]
    out = Comparison(FILE_NAME if match is None else match.pattern, scores)
    rows = frame.select("path", *scores).with_columns(groups, input_keys(frame.get_column("path"), match))
    rows = rows.filter(pl.col("group").is_not_null())
    out.unmatched = sorted(rows.filter(pl.col("input").is_null()).get_column("path").to_list())
    rows = rows.filter(pl.col("input").is_not_null())
    twice = pl.len().over("group", "input") > 1
    out.duplicates = sorted(rows.filter(twice).get_column("path").to_list())
    rows = rows.filter(~twice)
    names = sorted(set(rows.get_column("group").to_list()) | set(groups.drop_nulls().unique().to_list()))
    keys = sorted(set(rows.get_column("input").to_list()))
    present, values = _matrices(rows, names, keys, scores)
    tallies = _tally_pairs(names, present, values, out)
    _rank(names, present, values, tallies, out, counts=frame.with_columns(groups).get_column("group"))
    return out


def _matrices(rows: pl.DataFrame, names: list[str], keys: list[str], scores: list[str]):
    """present (groups x inputs) and values (scores x groups x inputs, NaN = null)."""
    g = {name: i for i, name in enumerate(names)}
    k = {key: i for i, key in enumerate(keys)}
    gi = np.array([g[v] for v in rows.get_column("group").to_list()], np.int64)
    ki = np.array([k[v] for v in rows.get_column("input").to_list()], np.int64)
    present = np.zeros((len(names), len(keys)), bool)
    present[gi, ki] = True
    values = np.full((len(scores), len(names), len(keys)), np.nan)
    for s, score in enumerate(scores):
        column = rows.get_column(score).cast(pl.Float64).fill_null(np.nan).to_numpy()
        values[s, gi, ki] = np.where(np.isfinite(column), column, np.nan)
    return present, values


@dataclass
class _Tally:
    """Per pair: the shared-input mask and, per score, the outcome masks over all inputs."""

    i: int
    j: int
    shared: np.ndarray
    first: np.ndarray  # scores x inputs
    second: np.ndarray
    ties: np.ndarray
    missing: np.ndarray


def _tally_pairs(names, present, values, out: Comparison) -> list[_Tally]:
    tallies = []
    for i, j in itertools.combinations(range(len(names)), 2):
        shared = present[i] & present[j]
        if not shared.any():
            out.unshared_pairs.append((names[i], names[j]))
            continue
        a, b = values[:, i, :], values[:, j, :]
        missing = shared & (np.isnan(a) | np.isnan(b))
        scored = shared & ~missing
        tally = _Tally(i, j, shared, scored & (a > b), scored & (a < b), scored & (a == b), missing)
        tallies.append(tally)
        n = int(shared.sum())
        out.pairs.append(Pair(names[i], names[j], n, {
            score: PairScore(n, int(tally.first[s].sum()), int(tally.second[s].sum()), int(tally.ties[s].sum()),
                             int(tally.missing[s].sum()), share_interval(int(tally.first[s].sum()), n),
                             share_interval(int(tally.second[s].sum()), n))
            for s, score in enumerate(out.scores)}))
    return tallies


def _rank(names, present, values, tallies: list[_Tally], out: Comparison, counts: pl.Series) -> None:
    """Win share per group and score with bootstrap intervals; pairs oriented best-ranked first."""
    n_scores, n_groups, n_keys = values.shape
    won = np.zeros((n_keys, n_scores, n_groups), np.float32)
    compared = np.zeros_like(won)
    missing = np.zeros((n_scores, n_groups), np.int64)
    inputs = np.zeros((n_groups, n_keys), bool)
    for t in tallies:
        for side, wins, other in ((t.i, t.first, t.second), (t.j, t.second, t.first)):
            won[:, :, side] += (wins + 0.5 * t.ties).T
            compared[:, :, side] += (wins | other | t.ties).T
            missing[:, side] += t.missing.sum(axis=1)
            inputs[side] |= t.shared
    used = inputs.any(axis=0)
    rng = Resampler([SEED, zlib.crc32("\0".join(names).encode())])
    flat_won = won[used].reshape(int(used.sum()), n_scores * n_groups)
    flat_compared = compared[used].reshape(int(used.sum()), n_scores * n_groups)
    boot = ratio_resamples(flat_won, flat_compared, rng) if used.any() else np.empty((0, flat_won.shape[1]))
    totals_won, totals_compared = flat_won.sum(axis=0), flat_compared.sum(axis=0)
    for g, name in enumerate(names):
        if not inputs[g].any():
            out.unpaired.append((name, int((counts == name).sum())))
            continue
        shares = {}
        for s, score in enumerate(out.scores):
            c = s * n_groups + g
            low, high = percentiles(boot[:, c])
            share = totals_won[c] / totals_compared[c] if totals_compared[c] else None
            shares[score] = WinShare(finite_or_none(share), finite_or_none(low), finite_or_none(high),
                                     int(totals_compared[c]), int(missing[s, g]))
        out.ranking.append(RankRow(name, 0, int(inputs[g].sum()), shares))
    _order(out)


def _order(out: Comparison) -> None:
    score = RANK_SCORE if RANK_SCORE in out.scores else (out.scores[0] if out.scores else None)

    def key(row: RankRow):
        share = row.scores[score].share if score else None
        return (share is None, -(share or 0.0), row.group)

    out.ranking.sort(key=key)
    position = {}
    for rank, row in enumerate(out.ranking, start=1):
        row.rank = rank
        position[row.group] = rank
    for pair in out.pairs:
        if position[pair.first] > position[pair.second]:
            pair.first, pair.second = pair.second, pair.first
            pair.scores = {name: ps.swapped() for name, ps in pair.scores.items()}
    out.pairs.sort(key=lambda p: (position[p.first], position[p.second]))


def _round(value: float | None) -> float | None:
    value = finite_or_none(value)
    return None if value is None else round(value, 4)


def pair_frame(cmp: Comparison) -> pl.DataFrame:
    """One row per pair and score: counts, shares of the shared inputs and the win-share intervals."""
    records = []
    for pair in cmp.pairs:
        for score, ps in pair.scores.items():
            records.append({
                "first": pair.first, "second": pair.second, "score": score, "inputs": ps.n,
                "first_wins": ps.first, "second_wins": ps.second, "ties": ps.ties, "missing": ps.missing,
                "first_share": _round(ps.first / ps.n), "first_low": _round(ps.first_interval[0]),
                "first_high": _round(ps.first_interval[1]), "second_share": _round(ps.second / ps.n),
                "second_low": _round(ps.second_interval[0]), "second_high": _round(ps.second_interval[1]),
                "tie_share": _round(ps.ties / ps.n), "missing_share": _round(ps.missing / ps.n),
            })
    return pl.DataFrame(records, schema=PAIR_SCHEMA)


def ranking_frame(cmp: Comparison) -> pl.DataFrame:
    """One row per ranked group: its win share per score with the interval and the counts."""
    records = []
    for row in cmp.ranking:
        record = {"rank": row.rank, "group": row.group, "inputs": row.inputs}
        for score, ws in row.scores.items():
            record.update({f"{score}_win_share": _round(ws.share), f"{score}_low": _round(ws.low),
                           f"{score}_high": _round(ws.high), f"{score}_compared": ws.compared,
                           f"{score}_missing": ws.missing})
        records.append(record)
    return pl.DataFrame(records, infer_schema_length=None)


def notes(cmp: Comparison) -> list[str]:
    """What the paired table leaves out and why, one sentence each (the page and ``tqscore compare``)."""
    out = []
    if cmp.unpaired:
        groups = ", ".join(f"{g} ({n:,} clips)" for g, n in cmp.unpaired)
        out.append(f"Groups that share no input with any other group: {groups}. They are in no pair "
                   "(give --match REGEX to pair clips whose names differ).")
    alone = {g for g, _ in cmp.unpaired}
    apart = [f"{a} vs {b}" for a, b in cmp.unshared_pairs if a not in alone and b not in alone]
    if apart:
        out.append(f"Pairs of groups that share no input, not in the table: {', '.join(apart)}.")
    if cmp.duplicates:
        out.append(f"{len(cmp.duplicates):,} clips left out: their input appears more than once in their group, "
                   f"so which clip to pair is ambiguous (e.g. {', '.join(cmp.duplicates[:EXAMPLES])}).")
    if cmp.unmatched:
        out.append(f"{len(cmp.unmatched):,} clips left out: --match does not match their file name "
                   f"(e.g. {', '.join(cmp.unmatched[:EXAMPLES])}).")
    return out
