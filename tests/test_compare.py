"""Groups, paired comparison and ranking (tqscore.report.groups / paired / intervals) on small
tables whose answers are known by hand, the intervals against a direct Monte Carlo bootstrap,
and ``tqscore compare``'s output and errors. The same code on the real adthqa-dev clips, in the
page, is checked in tests/test_report.py."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from tqscore.cli import main
from tqscore.errors import ReportError
from tqscore.report.groups import assign_groups, group_frame, group_table, parse_grouping
from tqscore.report.intervals import Resampler, mean_intervals, share_interval
from tqscore.report.paired import compare, pair_frame, ranking_frame

SCORES = ("lip_sync", "expression", "audio_quality", "cross_modal", "overall")


def table(rows: list[tuple[str, str, float | None]]) -> pl.DataFrame:
    """(path, status, overall) rows; the other four scores follow overall so every score agrees."""
    frame = pl.DataFrame(rows, schema={"path": pl.String, "status": pl.String, "overall": pl.Float32}, orient="row")
    return frame.with_columns(
        *(pl.col("overall").alias(name) for name in SCORES[:-1]),
        pl.when(pl.col("overall") < 2).then(pl.lit("fail")).when(pl.col("overall").is_null()).then(pl.lit("fail"))
        .otherwise(pl.lit("pass")).alias("verdict"),
    )


def folder_groups(frame: pl.DataFrame) -> pl.Series:
    return assign_groups(frame.get_column("path"), parse_grouping("folder"))


@pytest.mark.parametrize("won, n", [(0, 5), (3, 5), (5, 5), (7, 20), (61, 100)])
def test_share_interval_is_the_bootstrap_limit(won, n):
    """The exact interval equals a direct bootstrap (inputs resampled 40,000 times) to one input."""
    outcomes = np.array([1] * won + [0] * (n - won))
    draws = np.random.default_rng(1).integers(0, n, size=(40_000, n))
    boot = outcomes[draws].mean(axis=1)
    low, high = share_interval(won, n)
    direct = np.quantile(boot, [0.025, 0.975])
    assert abs(low - direct[0]) <= 1 / n + 1e-9 and abs(high - direct[1]) <= 1 / n + 1e-9
    assert low <= won / n <= high


def test_mean_interval_agrees_with_scipy_bootstrap():
    from scipy.stats import bootstrap

    rng = np.random.default_rng(3)
    values = rng.normal(3.0, 0.8, size=(400, 2))
    values[::7, 1] = np.nan  # nulls are left out per score
    (mean_a, low_a, high_a, n_a), (mean_b, low_b, high_b, n_b) = mean_intervals(values, Resampler())
    assert n_a == 400 and n_b == 400 - len(values[::7])
    for column, (mean, low, high) in ((values[:, 0], (mean_a, low_a, high_a)), (values[:, 1], (mean_b, low_b, high_b))):
        column = column[np.isfinite(column)]
        ref = bootstrap((column,), np.mean, method="percentile", n_resamples=20_000, random_state=5)
        assert mean == pytest.approx(column.mean(), abs=1e-5)
        # Monte Carlo error of a 2.5 % quantile with 2,000 resamples: well under a fifth of the half-width.
        half = (ref.confidence_interval.high - ref.confidence_interval.low) / 2
        assert low == pytest.approx(ref.confidence_interval.low, abs=0.2 * half)
        assert high == pytest.approx(ref.confidence_interval.high, abs=0.2 * half)
    assert mean_intervals(np.full((3, 1), np.nan), Resampler()) == [None]


def test_pairs_count_wins_ties_and_missing_never_drop_them():
    frame = table([
        ("a/x.mp4", "ok", 4.0), ("b/x.mp4", "ok", 3.0),  # a wins
        ("a/y.mp4", "ok", 2.5), ("b/y.mp4", "ok", 2.5),  # tie
        ("a/z.mp4", "ok", 1.0), ("b/z.mp4", "ok", 3.5),  # b wins
        ("a/w.mp4", "ok", 4.5), ("b/w.mp4", "error", None),  # missing: b's clip could not be scored
        ("a/only_a.mp4", "ok", 5.0),  # not shared
        ("c/x.mp4", "ok", 1.0), ("c/sub/x.mp4", "ok", 5.0),  # x twice in c: ambiguous, left out
        ("d/q.mp4", "ok", 3.0),  # d shares nothing
        ("top.mp4", "ok", 3.0),  # in no folder
    ])
    cmp = compare(frame, folder_groups(frame))
    assert [(p.first, p.second, p.n) for p in cmp.pairs] == [("a", "b", 4)]
    overall = cmp.pairs[0].scores["overall"]
    assert (overall.first, overall.second, overall.ties, overall.missing) == (1, 1, 1, 1)
    assert [r.group for r in cmp.ranking] == ["a", "b"]
    a = cmp.ranking[0].scores["overall"]
    assert a.share == pytest.approx(0.5) and a.compared == 3 and a.missing == 1  # (1 win + half a tie) / 3
    assert cmp.duplicates == ["c/sub/x.mp4", "c/x.mp4"]
    assert ("d", 1) in cmp.unpaired and ("c", 2) in cmp.unpaired
    rows = pair_frame(cmp).filter(pl.col("score") == "overall").row(0, named=True)
    assert rows["first_share"] + rows["second_share"] + rows["tie_share"] + rows["missing_share"] == pytest.approx(1)


def test_ranking_orders_groups_and_puts_the_better_group_first_in_each_pair():
    rows = []
    for i in range(6):  # c beats b beats a on every input
        rows += [(f"a/in{i}.mp4", "ok", 2.0 + i * 0.01), (f"b/in{i}.mp4", "ok", 3.0), (f"c/in{i}.mp4", "ok", 4.0)]
    frame = table(rows)
    cmp = compare(frame, folder_groups(frame))
    assert [(r.rank, r.group) for r in cmp.ranking] == [(1, "c"), (2, "b"), (3, "a")]
    assert [r.scores["overall"].share for r in cmp.ranking] == [1.0, 0.5, 0.0]
    assert [(p.first, p.second) for p in cmp.pairs] == [("c", "b"), ("c", "a"), ("b", "a")]
    assert all(p.scores["lip_sync"].first == 6 for p in cmp.pairs)
    ranking = ranking_frame(cmp)
    assert ranking.get_column("group").to_list() == ["c", "b", "a"] and ranking.height == 3


def test_match_pairs_names_that_differ_and_reports_those_it_cannot():
    frame = table([("real/Obama_slice.mp4", "ok", 4.5), ("gen/Obama_Obama.mp4", "ok", 3.0),
                   ("real/GER1_slice.mp4", "ok", 4.0), ("gen/GER1_GER1.mp4", "ok", 3.9),
                   ("gen/nounderscore.mp4", "ok", 2.0)])
    cmp = compare(frame, folder_groups(frame), re.compile(r"^([^_]+)_"))
    assert [(p.first, p.second, p.n) for p in cmp.pairs] == [("real", "gen", 2)]
    assert cmp.unmatched == ["gen/nounderscore.mp4"]


def test_group_table_ranks_by_mean_overall_and_counts_clips_in_no_group():
    rows = [(f"fast/{i}.mp4", "ok", 4.0 + 0.1 * (i % 3)) for i in range(9)]
    rows += [(f"slow/{i}.mp4", "ok", 1.5 + 0.1 * (i % 3)) for i in range(9)] + [("slow/broken.mp4", "error", None)]
    rows += [("loose.mp4", "ok", 3.0)]
    frame = table(rows)
    groups = group_table(frame, folder_groups(frame), "folder")
    assert [(r.rank, r.group, r.clips, r.errors) for r in groups.rows] == [(1, "fast", 9, 0), (2, "slow", 10, 1)]
    fast = groups.rows[0].scores["overall"]
    assert fast.mean == pytest.approx(4.1, abs=1e-5) and fast.low <= fast.mean <= fast.high and fast.count == 9
    assert groups.rows[1].verdicts["fail"] == 1.0  # every slow clip fails (score < 2, or not scored)
    assert groups.ungrouped == 1 and groups.ungrouped_examples == ["loose.mp4"]
    csv = group_frame(groups)
    assert csv.get_column("group").to_list() == ["fast", "slow"] and "overall_low" in csv.columns
    regex = assign_groups(frame.get_column("path"), parse_grouping(r"^(fast|slow)/"))
    assert group_table(frame, regex, "re").ungrouped == 1


@pytest.mark.parametrize("spec, words", [("(a)(b)", "exactly one capture group"), ("abc", "exactly one capture group"),
                                         ("(unclosed", "not a regular expression")])
def test_bad_group_by_is_a_clear_error(spec, words):
    with pytest.raises(ReportError, match=re.escape(words)):
        parse_grouping(spec)


def test_compare_cli_prints_pairs_and_ranking_and_writes_csv(tmp_path, capsys):
    rows = []
    for i in range(5):
        rows += [(f"good/{i}.mp4", "ok", 4.0), (f"bad/{i}.mp4", "ok", 2.0 + 0.5 * (i == 0))]
    scores = tmp_path / "scores.parquet"
    table(rows).write_parquet(scores)
    out = tmp_path / "pairs.csv"
    assert main(["compare", str(scores), "--group-by", "folder", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "good vs bad" in text and "good 100 % [100–100]" in text and "ranking" in text
    written = pl.read_csv(out)
    assert written.height == 5 and set(written.get_column("score")) == set(SCORES)
    assert pl.read_csv(tmp_path / "pairs-ranking.csv").get_column("group").to_list() == ["good", "bad"]


def test_compare_cli_bad_input_is_one_line(tmp_path, capsys):
    scores = tmp_path / "scores.parquet"
    table([("a/x.mp4", "ok", 3.0)]).write_parquet(scores)
    assert main(["compare", str(scores), "--group-by", "(a)(b)"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exactly one capture group" in err[0]
    assert main(["compare", str(tmp_path / "missing.parquet"), "--group-by", "folder"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.parquet" in err[0] and "file not found" in err[0]
