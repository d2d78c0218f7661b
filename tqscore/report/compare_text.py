"""``tqscore compare``'s printed form of a ``tqscore.report.paired.Comparison``: the numbers of
the report's paired section, as aligned plain text for a terminal or a log."""

from __future__ import annotations

from tqscore.report.markup import interval, percent
from tqscore.report.paired import notes


def _columns(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _share(share: float | None, low: float | None, high: float | None) -> str:
    return f"{percent(share)} {interval(low, high, 100)}".strip()


def comparison_text(cmp) -> str:
    """The paired table per score, then the ranking, then what was left out and why."""
    lines = [f"inputs matched by {cmp.key if cmp.key == 'file name' else 'the capture of ' + cmp.key + ' in the file name'}; "
             "shares of the shared inputs, bootstrap 95 % intervals over inputs"]
    if not cmp.pairs:
        lines.append("no two groups share an input: nothing to compare")
    for score in cmp.scores:
        rows = [["pair", "inputs", "first wins", "second wins", "ties", "missing"]]
        for pair in cmp.pairs:
            ps = pair.scores[score]
            rows.append([f"{pair.first} vs {pair.second}", str(ps.n),
                         f"{pair.first} {_share(ps.first / ps.n, *ps.first_interval)}",
                         f"{pair.second} {_share(ps.second / ps.n, *ps.second_interval)}",
                         str(ps.ties), str(ps.missing)])
        if cmp.pairs:
            lines += ["", score, *_columns(rows)]
    if cmp.ranking:
        rows = [["rank", "group", "inputs", *cmp.scores]]
        rows += [[str(r.rank), r.group, str(r.inputs), *(_share(w.share, w.low, w.high) for w in r.scores.values())]
                 for r in cmp.ranking]
        lines += ["", "ranking: win share (of a group's comparisons with both sides scored, the share it wins, "
                  "a tie counting half), ranked on overall", *_columns(rows)]
    lines += ["", *notes(cmp)] if notes(cmp) else []
    return "\n".join(lines)
