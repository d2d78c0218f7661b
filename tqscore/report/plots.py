"""The report's plots: histograms, group small multiples and stage times as inline PNG data URIs,
sync curves as inline SVG.

matplotlib draws them, with its Agg backend (no display, no browser needed): it is the
well-kept standard for static scientific plots, it is already installed with MediaPipe, and it
renders in the batch process, so the page carries finished images that show in any viewer, even
one that runs no scripts. A browser-side library (Vega-Lite) would need its runtime inlined
(about 1 MB) and would redraw every plot on each page load. PNG rather than SVG because a
histogram of 100,000 values is a fixed-size image either way and PNG is smaller for small plots
with text.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

# Sizes in inches at DPI: a histogram is ~330 x 200 px; small enough for a grid of 30 on a
# laptop screen, large enough to read the axis labels.
DPI = 96
HIST_SIZE = (3.4, 2.1)
STAGE_SIZE = (5.0, 2.4)
FLOAT_BINS = 30  # Sturges' rule gives 18 bins at 100,000 values; 30 shows more shape, still smooth
MAX_INTEGER_BINS = 61  # one bin per integer up to the +/-30 span of an offset column
BAR, BAND, MARK = "#4c72b0", "#55a868", "#c44e52"

plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "axes.spines.top": False, "axes.spines.right": False})


def _data_uri(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def histogram(values: np.ndarray, title: str, unit: str, band: tuple[float, float] | None, integer: bool) -> str:
    """Histogram of the finite ``values`` with the reference band shaded, as a PNG data URI."""
    values = np.asarray(values, np.float64)
    lo, hi = float(values.min()), float(values.max())
    if integer and hi - lo + 1 <= MAX_INTEGER_BINS:
        edges = np.arange(lo - 0.5, hi + 1.5)
    else:
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, FLOAT_BINS + 1)
    counts, edges = np.histogram(values, bins=edges)
    fig, ax = plt.subplots(figsize=HIST_SIZE)
    if band is not None:
        ax.axvspan(band[0], band[1], color=BAND, alpha=0.2, lw=0, label="real footage")
        ax.legend(loc="upper right", frameon=False, fontsize=7)
    ax.stairs(counts, edges, fill=True, color=BAR, alpha=0.85)
    ax.set_title(title)
    ax.set_xlabel(unit)
    ax.set_ylabel("clips")
    if band is not None:
        left, right = ax.get_xlim()
        ax.set_xlim(min(left, band[0]), max(right, band[1]))
    return _data_uri(fig)


CURVE_W, CURVE_H = 300, 150  # px: beside the reasons in a card; wide enough for 31 offsets at ~9 px each
CURVE_BOX = (38, 8, 20, 30)  # px margins left, right, top, bottom: room for tick labels and the title
CURVE_XTICK_STEP = 5  # frames between x tick labels (200 ms at 25 fps)


def sync_curve(curve: np.ndarray, chosen: int | None) -> str:
    """Confidence per offset (frames) with the chosen offset marked, as an SVG data URI.

    Drawn as SVG text, not by matplotlib: a page has one curve per shown clip (up to ~80), and a
    31-point line costs microseconds this way against 0.1-0.3 s per matplotlib figure.
    """
    curve = np.asarray(curve, np.float64)
    half = (len(curve) - 1) // 2
    offsets = np.arange(-half, len(curve) - half)
    left, right, top, bottom = CURVE_BOX
    lo, hi = float(curve.min()), float(curve.max())
    lo, hi = (lo - 0.5, hi + 0.5) if hi - lo < 1e-9 else (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))

    def x(offset: float) -> float:
        return left + (offset + half) / max(2 * half, 1) * (CURVE_W - left - right)

    def y(value: float) -> float:
        return top + (hi - value) / (hi - lo) * (CURVE_H - top - bottom)

    parts = [f'<rect x="{left}" y="{top}" width="{CURVE_W - left - right}" height="{CURVE_H - top - bottom}" '
             'fill="none" stroke="#c8ccd2"/>',
             f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top}" y2="{CURVE_H - bottom}" stroke="#888" stroke-dasharray="3 3"/>',
             f'<polyline fill="none" stroke="{BAR}" stroke-width="1.5" points="'
             + " ".join(f"{x(o):.1f},{y(v):.1f}" for o, v in zip(offsets, curve)) + '"/>']
    title = "sync curve"
    if chosen is not None and -half <= chosen <= len(curve) - half - 1:
        title = f"sync curve: chosen offset {chosen:+d} frames"
        parts += [f'<line x1="{x(chosen):.1f}" x2="{x(chosen):.1f}" y1="{top}" y2="{CURVE_H - bottom}" stroke="{MARK}"/>',
                  f'<circle cx="{x(chosen):.1f}" cy="{y(curve[chosen + half]):.1f}" r="3" fill="{MARK}"/>']
    for tick in range(-(half // CURVE_XTICK_STEP) * CURVE_XTICK_STEP, half + 1, CURVE_XTICK_STEP):
        parts.append(f'<text x="{x(tick):.1f}" y="{CURVE_H - bottom + 11}" text-anchor="middle">{tick:+d}</text>')
    parts += [f'<text x="{left - 3}" y="{top + 8}" text-anchor="end">{hi:.2f}</text>',
              f'<text x="{left - 3}" y="{CURVE_H - bottom}" text-anchor="end">{lo:.2f}</text>',
              f'<text x="{(left + CURVE_W - right) / 2:.0f}" y="{CURVE_H - 4}" text-anchor="middle">'
              "offset (frames; + = sound late)</text>",
              f'<text x="{(left + CURVE_W - right) / 2:.0f}" y="13" text-anchor="middle" font-weight="600">{title}</text>']
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{CURVE_W}" height="{CURVE_H}" '
           f'font-family="sans-serif" font-size="9" fill="#1d232b">{"".join(parts)}</svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def stage_times(stages: list[tuple[str, float, float]]) -> str:
    """Median and 95th percentile milliseconds per stage (name, median, p95), as a PNG data URI."""
    names = [s[0] for s in stages][::-1]
    medians = [s[1] for s in stages][::-1]
    p95 = [s[2] for s in stages][::-1]
    fig, ax = plt.subplots(figsize=STAGE_SIZE)
    y = np.arange(len(names))
    ax.barh(y, p95, color=BAR, alpha=0.3, label="95th percentile")
    ax.barh(y, medians, color=BAR, label="median")
    ax.set_yticks(y, names)
    ax.set_xlabel("ms per clip")
    ax.legend(loc="lower right", frameon=False, fontsize=7)
    return _data_uri(fig)


GROUP_ROW_INCHES = 0.3  # one group's row: room for a 8-pt label and a mean with its interval
GROUP_PANEL_INCHES = 1.7  # one score's panel: the 1-5 scale at ~40 px per score point
GROUP_DOTS_MAX = 60  # clips drawn one by one up to this many per group; beyond, the quartile bar says it
VERDICT_COLOURS = {"pass": "#2e7d32", "review": "#e0a030", "fail": "#c62828", "none": "#b0b6be"}


def group_multiples(rows: list, scores: list[str]) -> str:
    """One row per group (ranked, best on top), one panel per score plus the verdict shares.

    In a score panel: each clip a grey dot (up to ``GROUP_DOTS_MAX`` per group), the middle half
    of the clips a light bar, the mean a dark dot with its 95 % interval as a line.
    """
    n = len(rows)
    fig, axes = plt.subplots(1, len(scores) + 1, sharey=True, squeeze=False,
                             figsize=(GROUP_PANEL_INCHES * (len(scores) + 1), 0.7 + GROUP_ROW_INCHES * n))
    y = np.arange(n)[::-1]
    for ax, score in zip(axes[0], scores):
        _score_panel(ax, rows, score, y)
    _verdict_panel(axes[0][-1], rows, y)
    axes[0][0].set_yticks(y, [row.group for row in rows])
    axes[0][0].set_ylim(-0.6, n - 0.4)
    fig.tight_layout(w_pad=0.4)
    return _data_uri(fig)


def _score_panel(ax, rows: list, score: str, y: np.ndarray) -> None:
    for row, at in zip(rows, y):
        values = row.values.get(score)
        if values is None or values.size == 0:
            continue
        q1, q3 = np.quantile(values, [0.25, 0.75])
        ax.plot([q1, q3], [at, at], color=BAR, alpha=0.25, lw=7, solid_capstyle="butt")
        if values.size <= GROUP_DOTS_MAX:
            ax.plot(values, np.full(values.size, at), "|", color="#6b7480", ms=6, alpha=0.7)
        mean = row.scores.get(score)
        if mean is not None and mean.low is not None and mean.high is not None:
            ax.plot([mean.low, mean.high], [at, at], color="#1d232b", lw=1.6)
        if mean is not None:
            ax.plot([mean.mean], [at], "o", color="#1d232b", ms=4)
    ax.set_xlim(0.9, 5.1)
    ax.set_xticks([1, 2, 3, 4, 5])
    ax.set_title(score)
    ax.grid(axis="x", color="#e4e7eb", lw=0.6)


def _verdict_panel(ax, rows: list, y: np.ndarray) -> None:
    left = np.zeros(len(rows))
    for verdict, colour in VERDICT_COLOURS.items():
        shares = np.array([row.verdicts.get(verdict, 0.0) for row in rows])
        if shares.any():
            ax.barh(y, shares, left=left, color=colour, height=0.6)
        left += shares
    ax.set_xlim(0, 1)
    ax.set_xticks([0, 0.5, 1], ["0", "50 %", "100 %"])
    ax.set_title("verdicts")
