"""The page's groups and paired-comparison sections (``--group-by``), from ``tqscore.report.groups``
and ``tqscore.report.paired``; the numbers are the ones ``tqscore compare`` prints."""

from __future__ import annotations

from tqscore.report.groups import NO_VERDICT, VERDICTS
from tqscore.report.markup import e, interval, percent
from tqscore.report.paired import notes


def groups_html(groups) -> str:
    return (f'<section id="groups"><h2>Groups ({e(_grouping_words(groups.table.grouping))})</h2>'
            f"{_group_table(groups.table)}{_group_plot(groups.plot)}{_group_notes(groups.table)}</section>"
            f'<section id="paired"><h2>Paired comparison on shared inputs</h2>{_paired(groups.comparison)}</section>')


def _grouping_words(spec: str) -> str:
    return "the first folder under the input" if spec == "folder" else f"the capture of {spec} in each path"


def _group_table(table) -> str:
    if not table.rows:
        return "<p>No clip falls in a group.</p>"
    head = "".join(f"<th>{e(s)}</th>" for s in table.scores)
    shares = "".join(f"<th>{e(v)}</th>" for v in (*VERDICTS, NO_VERDICT))
    rows = []
    for row in table.rows:
        cells = []
        for score in table.scores:
            mean = row.scores.get(score)
            cells.append("<td class=n>–</td>" if mean is None else
                         f'<td class=n><b>{mean.mean:.2f}</b> <span class=ci>{interval(mean.low, mean.high, 1, 2)}</span></td>')
        verdicts = "".join(f"<td class=n>{percent(row.verdicts[v])}</td>" for v in (*VERDICTS, NO_VERDICT))
        rows.append(f'<tr><td class=n>{row.rank}</td><td class="group">{e(row.group)}</td><td class=n>{row.clips:,}</td>'
                    f"<td class=n>{row.errors:,}</td>{''.join(cells)}{verdicts}</tr>")
    return ('<p class=muted>Ranked by the mean overall score. Mean per score over the group\'s clips that have it, '
            "with its bootstrap 95 % interval (clips resampled); verdict shares of the group's clips.</p>"
            f'<div class="table-wrap"><table id="groups-table" class="small"><thead><tr><th>rank</th><th>group</th>'
            f"<th>clips</th><th>errors</th>{head}{shares}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _group_plot(plot: str | None) -> str:
    if not plot:
        return ""
    return ('<figure class="groups-plot"><img class="plot" alt="scores per group" src="' + plot + '">'
            "<figcaption>One row per group, best first. Grey ticks: clips; light bar: the middle half of them; "
            "dark dot and line: the mean and its 95 % interval. Right: verdict shares (green pass, amber review, "
            "red fail, grey none).</figcaption></figure>")


def _group_notes(table) -> str:
    if not table.ungrouped:
        return ""
    return (f"<p class=note>{table.ungrouped:,} clips are in no group (not under a folder, or the expression does "
            f"not match), e.g. {e(', '.join(table.ungrouped_examples))}.</p>")


def _paired(cmp) -> str:
    notes = _paired_notes(cmp)
    if not cmp.pairs:
        return f"<p>No two groups share an input ({e(cmp.key)}), so there is nothing to pair.</p>{notes}"
    return _ranking_table(cmp) + _pair_table(cmp) + notes


def _ranking_table(cmp) -> str:
    head = "".join(f"<th>{e(s)}</th>" for s in cmp.scores)
    rows = []
    for row in cmp.ranking:
        cells = "".join(
            f'<td class=n><b>{percent(w.share)}</b> <span class=ci>{interval(w.low, w.high, 100)}</span>'
            f'{f" <span class=miss>{w.missing} missing</span>" if w.missing else ""}</td>'
            for w in row.scores.values())
        rows.append(f'<tr><td class=n>{row.rank}</td><td class="group">{e(row.group)}</td>'
                    f"<td class=n>{row.inputs:,}</td>{cells}</tr>")
    return ("<h3>Ranking: win share</h3><p class=muted>Of each group's comparisons with another group on the same "
            "input (both scored), the share it wins, a tie counting half; 95 % bootstrap interval over inputs. "
            "Ranked on overall.</p>"
            f'<table id="ranking-table" class="small"><thead><tr><th>rank</th><th>group</th><th>inputs</th>{head}'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _pair_cell(pair, ps) -> str:
    n = ps.n
    bar = "".join(f'<span class="{cls}" style="width:{100 * count / n:.1f}%"></span>'
                  for cls, count in (("first", ps.first), ("tie", ps.ties), ("missing", ps.missing), ("second", ps.second))
                  if count)
    lines = []
    for name, won, ci, other in ((pair.first, ps.first, ps.first_interval, ps.second),
                                 (pair.second, ps.second, ps.second_interval, ps.first)):
        text = f"{e(name)} {percent(won / n)}"
        lines.append(f'<div>{f"<b>{text}</b>" if won > other else text} <span class=ci>{interval(*ci, 100)}</span></div>')
    return (f'<td class="pair-cell"><div class="winbar">{bar}</div>{"".join(lines)}'
            f'<div class=muted>ties {ps.ties} · missing {ps.missing}</div></td>')


def _pair_table(cmp) -> str:
    head = "".join(f"<th>{e(s)}</th>" for s in cmp.scores)
    rows = "".join(
        f'<tr><th class="pair">{e(p.first)} <span class=muted>vs</span> {e(p.second)}</th><td class=n>{p.n}</td>'
        + "".join(_pair_cell(p, p.scores[s]) for s in cmp.scores) + "</tr>"
        for p in cmp.pairs)
    return ("<h3>Pairs</h3><p class=muted>Per pair and score: the share of the shared inputs each group wins "
            "(higher score), with its 95 % bootstrap interval over inputs; ties and inputs where either clip has "
            f"no score are counted, never dropped. Inputs are matched by {e(_key_words(cmp.key))}.</p>"
            f'<div class="table-wrap"><table id="pairs-table" class="small"><thead><tr><th>pair</th><th>inputs</th>'
            f"{head}</tr></thead><tbody>{rows}</tbody></table></div>")


def _key_words(key: str) -> str:
    return "file name" if key == "file name" else f"the capture of {key} in the file name"


def _paired_notes(cmp) -> str:
    return "".join(f"<p class=note>{e(note)}</p>" for note in notes(cmp))
