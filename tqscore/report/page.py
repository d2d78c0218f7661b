"""The report's HTML: one file, styles and script inlined from ``static/``, no network.

The markup is small and fixed, so it is written with f-strings and ``html.escape`` rather
than a template engine (one dependency fewer for the serving image). The row table is not
markup: its data is one JSON block that ``static/report.js`` pages, sorts and filters.
"""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from importlib import resources
from pathlib import Path

from tqscore import __version__

STATUS_CLASS = {"ok": "good", "no_face": "warn", "error": "bad", "pass": "good", "review": "warn", "fail": "bad"}


def _static(name: str) -> str:
    return resources.files("tqscore.report").joinpath("static", name).read_text(encoding="utf-8")


def _e(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def _num(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _tiles(summary) -> str:
    tiles = [("rows", f"{summary.rows:,}", ""), ("files", f"{summary.files:,}", "")]
    tiles += [(status, f"{count:,}", STATUS_CLASS.get(status, "")) for status, count in summary.statuses]
    tiles += [(f"verdict {v}", f"{count:,}", STATUS_CLASS.get(v, "")) for v, count in summary.verdicts]
    total = next((s for s in summary.stages if s.stage == "total"), None)
    if total is not None:
        tiles.append(("median time per clip", f"{total.median_ms / 1000:.2f} s", ""))
    return "".join(f'<div class="tile {cls}"><div class="big">{_e(value)}</div><div>{_e(label)}</div></div>'
                   for label, value, cls in tiles)


def _counts_table(title: str, counts) -> str:
    rows = "".join(f"<tr><td>{_e(k)}</td><td class=n>{v:,}</td></tr>" for k, v in counts)
    return f"<table class=small><caption>{_e(title)}</caption>{rows}</table>"


def _run_section(summary, source: Path, stage_plot: str | None) -> str:
    facts = [("table", str(source))]
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


def _card(clip, label: str) -> str:
    name = f'<a href="{_e(clip.href)}">{_e(clip.path)}</a>' if clip.href else _e(clip.path)
    verdict = (f'<span class="badge {STATUS_CLASS.get(clip.verdict, "")}">{_e(clip.verdict)}</span>'
               if clip.verdict else "")
    scores = " ".join(f'<span class="{ "hl" if k == label else ""}">{_e(k)} {_num(v)}</span>'
                      for k, v in clip.scores.items())
    if clip.frames:
        pictures = (f'<img class="strip" alt="frames of {_e(clip.path)}" src="{clip.frames}">'
                    f'<img class="mouths" alt="mouth crops of {_e(clip.path)}" src="{clip.mouths}">')
    else:
        pictures = f'<div class="placeholder">{_e(clip.placeholder)}</div>'
    reasons = ("<ul class=reasons>" + "".join(f"<li>{_e(r)}</li>" for r in clip.reasons) + "</ul>"
               if clip.reasons else "<p class=muted>no reasons recorded</p>")
    curve = (f'<img class="curve" alt="sync curve of {_e(clip.path)}" src="{clip.curve}">' if clip.curve
             else '<div class="placeholder small">no sync curve in this row</div>')
    return (f'<div class="card"><div class="head"><span class="rank">#{clip.rank}</span> {name} '
            f'<span class="value">{_e(label)} {clip.value:.2f}</span> {verdict}</div>'
            f'<div class="scores">{scores}</div>{pictures}<div class="row">{reasons}{curve}</div></div>')


def _worst_section(worst, top: int, videos) -> str:
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


def render(*, source: Path, summary, stage_plot, histograms, worst, table, videos, top: int) -> str:
    made = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = f"tqscore report: {Path(source).name}"
    nav = "".join(f'<a href="#worst-{_e(label)}">{_e(label)}</a>' for label in worst)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{_e(title)}</title>
<style>{_static("report.css")}</style>
</head><body>
<header><h1>{_e(title)}</h1><p class=muted>{summary.rows:,} rows · made {made} by tqscore {__version__}
{f"· videos under {_e(videos)}" if videos else "· no --videos folder: no frames, no links"}</p>
<nav><a href="#run">run</a><a href="#distributions">distributions</a><a href="#worst">worst clips</a>{nav}<a href="#rows">all rows</a></nav>
<div class="tiles">{_tiles(summary)}</div></header>
<main>
<section id="run"><h2>The run</h2>{_run_section(summary, source, stage_plot)}</section>
<section id="distributions"><h2>Distributions</h2>
<p class=muted>Green: the range real recordings show (tqscore.signals.reference), where one is known.</p>
{_histogram_section(histograms)}</section>
<section id="worst"><h2>Worst clips per dimension (up to {top} each)</h2>{_worst_section(worst, top, videos)}</section>
<section id="rows"><h2>All rows</h2>
<div class="controls"><input id="filter" type="search" size="48"
 placeholder="filter: text, or column&lt;value, column=value (e.g. overall&lt;2.5 status=error)">
<select id="status-filter"><option value="">any status</option></select>
<select id="verdict-filter"><option value="">any verdict</option></select>
<button id="first">«</button><button id="prev">‹</button><span id="count"></span><button id="next">›</button><button id="last">»</button></div>
<div class="table-wrap"><table id="rows-table"><thead></thead><tbody></tbody></table></div>
</section></main>
<script type="application/json" id="table-data">{_json_block(table)}</script>
<script>{_static("report.js")}</script>
</body></html>
"""
