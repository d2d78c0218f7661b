"""The report's HTML: one file, styles and script inlined from ``static/``, no network.

The markup is small and fixed, so it is written with f-strings and ``html.escape`` rather
than a template engine (one dependency fewer for the serving image). The row table is not
markup: its data is one JSON block that ``static/report.js`` pages, sorts and filters.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tqscore import __version__
from tqscore.report.comparison_html import groups_html
from tqscore.report.data import plain_reason
from tqscore.report.markup import STATUS_CLASS, badge as _badge, e as _e, num as _num


def _static(name: str) -> str:
    return resources.files("tqscore.report").joinpath("static", name).read_text(encoding="utf-8")


def _tiles(summary) -> str:
    """Verdict counts first (what a person acts on), then rows that could not be scored, then rows."""
    verdicts = dict(summary.verdicts)
    tiles = [(v, f"{verdicts[v]:,}", STATUS_CLASS.get(v, "")) for v in ("fail", "review", "pass") if v in verdicts]
    tiles += [(v, f"{count:,}", "") for v, count in summary.verdicts if v not in ("fail", "review", "pass")]
    tiles += [(f"status {status}", f"{count:,}", STATUS_CLASS.get(status, ""))
              for status, count in summary.statuses if status != "ok"]
    tiles.append(("rows", f"{summary.rows:,}", ""))
    return "".join(f'<div class="tile {cls}"><div class="big">{_e(value)}</div><div>{_e(label)}</div></div>'
                   for label, value, cls in tiles)


def _counts_table(title: str, counts) -> str:
    rows = "".join(f"<tr><td>{_e(k)}</td><td class=n>{v:,}</td></tr>" for k, v in counts)
    return f"<table class=small><caption>{_e(title)}</caption>{rows}</table>"


def _run_section(summary, source: Path, stage_plot: str | None) -> str:
    facts = [("table", str(source)), ("rows", f"{summary.rows:,}"), ("files", f"{summary.files:,}")]
    total = next((s for s in summary.stages if s.stage == "total"), None)
    if total is not None:
        facts.append(("median time per clip", f"{total.median_ms / 1000:.2f} s"))
    if summary.total_size_bytes is not None:
        facts.append(("total size", f"{summary.total_size_bytes / 1e9:.2f} GB"))
    if summary.total_duration_s is not None:
        facts.append(("total footage", f"{summary.total_duration_s / 3600:.2f} h"))
    if summary.scored_from:
        facts.append(("scored", f"{summary.scored_from} – {summary.scored_to}"))
    fact_rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    parts = [f"<table class=small>{fact_rows}</table>", _counts_table("rows by status", summary.statuses)]
    if summary.verdicts:
        parts.append(_counts_table("rows by verdict", summary.verdicts))
    for name, counts in summary.ids.items():
        parts.append(_counts_table(name, counts))
    html = [f'<div class="facts">{"".join(parts)}</div>']
    if summary.stages:
        rows = "".join(
            f"<tr><td>{_e(s.stage)}</td><td class=n>{s.median_ms:,.0f}</td><td class=n>{s.p95_ms:,.0f}</td>"
            f"<td class=n>{s.mean_ms:,.0f}</td><td class=n>{s.rows:,}</td><td>{_e(s.description)}</td></tr>"
            for s in summary.stages)
        html.append('<h3>Time per clip by stage</h3><div class="row">'
                    "<table class=small><tr><th>stage</th><th>median ms</th><th>p95 ms</th><th>mean ms</th>"
                    f"<th>rows</th><th>what</th></tr>{rows}</table>")
        if stage_plot:
            html.append(f'<img class="plot" alt="time per stage" src="{stage_plot}">')
        html.append("</div>")
    html.append(f"<h3>Errors by cause ({sum(e.count for e in summary.errors):,} rows)</h3>")
    if summary.errors:
        rows = "".join(
            f"<tr><td class=n>{e.count:,}</td><td>{_e(e.cause)}</td><td>"
            + "<br>".join(_e(x) for x in e.examples) + "</td></tr>" for e in summary.errors)
        html.append(f'<table class="small errors"><tr><th>rows</th><th>cause</th><th>examples</th></tr>{rows}</table>')
    else:
        html.append("<p>No file failed.</p>")
    return "".join(html)


def _histogram_section(histograms) -> str:
    if not histograms:
        return "<p>No score or signal column with values in this table.</p>"
    cells = []
    for h in histograms:
        band = (f"real footage {h.band[0]:.3g} – {h.band[1]:.3g}" if h.band else "no reference band")
        cells.append(
            f'<figure class="hist {h.kind}"><img alt="histogram of {_e(h.name)}" src="{h.image}">'
            f"<figcaption title=\"{_e(h.description)}\"><b>{_e(h.name)}</b> · {h.count:,} values"
            f"{f', {h.nulls:,} null' if h.nulls else ''} · {_e(band)}</figcaption></figure>")
    return '<div class="grid">' + "".join(cells) + "</div>"


def _clip_name(clip) -> str:
    return f'<a href="{_e(clip.href)}">{_e(clip.path)}</a>' if clip.href else _e(clip.path)


def _reasons(reasons: list[str]) -> str:
    """Each reason in plain words; its rule code stays in the tooltip."""
    if not reasons:
        return "<p class=muted>no reasons recorded</p>"
    items = []
    for reason in reasons:
        code, text = plain_reason(reason)
        items.append(f'<li title="{_e(code)}">{_e(text)}</li>' if code else f"<li>{_e(text)}</li>")
    return "<ul class=reasons>" + "".join(items) + "</ul>"


def _card(clip, label: str, anchor: str = "") -> str:
    scores = " ".join(f'<span class="{ "hl" if k == label else ""}">{_e(k)} {_num(v)}</span>'
                      for k, v in clip.scores.items())
    if clip.frames:
        pictures = (f'<img class="strip" alt="frames of {_e(clip.path)}" src="{clip.frames}">'
                    f'<img class="mouths" alt="mouth crops of {_e(clip.path)}" src="{clip.mouths}">')
    else:
        pictures = f'<div class="placeholder">{_e(clip.placeholder)}</div>'
    curve = (f'<img class="curve" alt="sync curve of {_e(clip.path)}" src="{clip.curve}">' if clip.curve
             else '<div class="placeholder small">no sync curve in this row</div>')
    ident = f' id="{anchor}"' if anchor else ""
    return (f'<div class="card"{ident}><div class="head"><span class="rank">#{clip.rank}</span> {_clip_name(clip)} '
            f'<span class="value">{_e(label)} {_num(clip.value)}</span> {_badge(clip.verdict)}</div>'
            f'<div class="scores">{scores}</div>{pictures}<div class="row">{_reasons(clip.reasons)}{curve}</div></div>')


def _worst_section(worst) -> str:
    if not worst:
        return "<p>No score columns in this table.</p>"
    html = []
    for label, cards in worst.items():
        html.append(f'<h3 id="worst-{_e(label)}">{_e(label)}: lowest {len(cards)}</h3>')
        if not cards:
            html.append(f"<p class=muted>No ok row has a {_e(label)} score (scored without a model?).</p>")
            continue
        html.append('<div class="cards">' + "".join(_card(c, label) for c in cards) + "</div>")
    return "".join(html)


def _json_block(data) -> str:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("</", "<\\/")


@dataclass
class Content:
    """Everything the page shows, made by ``tqscore.report.build``."""

    source: Path
    summary: object  # tqscore.report.data.RunOverview
    stage_plot: str | None
    histograms: list
    worst: dict[str, list]
    held: list  # the most severe fail and review ClipCards
    held_counts: dict[str, int]  # verdict -> rows the verdict holds back (all of them, not only those shown)
    groups: object | None  # tqscore.report.build.Groups with --group-by
    table: dict
    videos: Path | None
    top: int


def _held_row(clip, index: int) -> str:
    thumb = (f'<img class="thumb" alt="frame of {_e(clip.path)}" src="{clip.thumb}">' if clip.thumb
             else '<div class="placeholder thumb">no frame</div>')
    scores = "".join(f"<td class=n>{_num(clip.scores.get(name))}</td>" for name in clip.scores)
    return (f'<tr class="held held-{_e(clip.verdict)}"><td>{thumb}</td>'
            f'<td class="path">{_badge(clip.verdict)} {_clip_name(clip)}</td>{scores}'
            f'<td class="why">{_reasons(clip.reasons)}</td><td><a class="card-link" href="#clip-{index}">card</a></td></tr>')


def _hold_section(held: list, counts: dict[str, int], rows: int) -> str:
    """The first screen: what to hold back and why, most severe first; one line for a clean run."""
    if not counts:
        return "<p class=clean>This table has no verdicts (it was written before the rules ran): nothing to hold back.</p>"
    total = sum(counts.values())
    if total == 0:
        return f"<p class=clean>Clean run: all {rows:,} clips pass; nothing to hold back.</p>"
    told = " and ".join(f"{count:,} {verdict}" for verdict, count in counts.items() if count)
    head = (f"<p class=lead>Hold back {total:,} of {rows:,} clips: {told}. Most severe first: fail before review, "
            "then the lowest worst score (no score at all first).</p>")
    if not held:
        return head
    names = list(held[0].scores)
    header = "".join(f"<th>{_e(n)}</th>" for n in names)
    body = "".join(_held_row(clip, i) for i, clip in enumerate(held, start=1))
    more = ""
    if total > len(held):
        buttons = "".join(f'<button class="show-rows" data-verdict="{_e(v)}">show every {_e(v)} row</button>'
                          for v, count in counts.items() if count)
        more = f"<p class=muted>Showing the {len(held)} most severe of {total:,}; all of them are in the table below: {buttons}</p>"
    return (f'{head}<table id="held-table" class="small"><tr><th></th><th>clip</th>{header}<th>why</th><th></th></tr>'
            f"{body}</table>{more}")


def _held_cards(held: list) -> str:
    return '<div class="cards">' + "".join(_card(c, "overall", f"clip-{i}") for i, c in enumerate(held, start=1)) + "</div>"


def render(c: Content) -> str:
    made = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = f"tqscore report: {Path(c.source).name}"
    nav = "".join(f'<a href="#worst-{_e(label)}">{_e(label)}</a>' for label in c.worst)
    group_nav = '<a href="#groups">groups</a><a href="#paired">paired</a>' if c.groups else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{_e(title)}</title>
<style>{_static("report.css")}</style>
</head><body>
<header><h1>{_e(title)}</h1><p class=muted>{c.summary.rows:,} rows · made {made} by tqscore {__version__}
{f"· videos under {_e(c.videos)}" if c.videos else "· no --videos folder: no frames, no links"}</p>
<nav><a href="#hold">hold back</a>{group_nav}<a href="#worst">worst clips</a>{nav}<a href="#distributions">distributions</a><a href="#run">run</a><a href="#rows">all rows</a></nav>
<div class="tiles">{_tiles(c.summary)}</div></header>
<main>
<section id="hold"><h2>What to hold back, and why</h2>{_hold_section(c.held, c.held_counts, c.summary.rows)}</section>
{groups_html(c.groups) if c.groups else ""}
{f'<section id="held-cards"><h2>Held-back clips in detail</h2>{_held_cards(c.held)}</section>' if c.held else ""}
<section id="worst"><h2>Worst clips per dimension (up to {c.top} each)</h2>{_worst_section(c.worst)}</section>
<section id="distributions"><h2>Distributions</h2>
<p class=muted>Green: the range real recordings show (tqscore.signals.reference), where one is known.</p>
{_histogram_section(c.histograms)}</section>
<section id="run"><h2>The run</h2>{_run_section(c.summary, c.source, c.stage_plot)}</section>
<section id="rows"><h2>All rows</h2>
<div class="controls"><input id="filter" type="search" size="48"
 placeholder="filter: text, or column&lt;value, column=value (e.g. overall&lt;2.5 status=error)">
<select id="status-filter"><option value="">any status</option></select>
<select id="verdict-filter"><option value="">any verdict</option></select>
<button id="first">«</button><button id="prev">‹</button><span id="count"></span><button id="next">›</button><button id="last">»</button></div>
<div class="table-wrap"><table id="rows-table"><thead></thead><tbody></tbody></table></div>
</section></main>
<script type="application/json" id="table-data">{_json_block(c.table)}</script>
<script>{_static("report.js")}</script>
</body></html>
"""
