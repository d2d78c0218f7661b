"""The report's plots: histograms, sync curves and stage times as inline PNG data URIs.

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

# Sizes in inches at DPI: a histogram is ~330 x 200 px, a sync curve ~300 x 150 px; small
# enough for a grid of 30 on a laptop screen, large enough to read the axis labels.
DPI = 96
HIST_SIZE = (3.4, 2.1)
CURVE_SIZE = (3.1, 1.6)
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


def sync_curve(curve: np.ndarray, chosen: int | None) -> str:
    """Confidence per offset (frames) with the chosen offset marked, as a PNG data URI."""
    curve = np.asarray(curve, np.float64)
    half = (len(curve) - 1) // 2
    offsets = np.arange(-half, len(curve) - half)
    fig, ax = plt.subplots(figsize=CURVE_SIZE)
    ax.plot(offsets, curve, color=BAR, lw=1.2)
    ax.axvline(0, color="#888888", lw=0.6, ls="--")
    if chosen is not None and -half <= chosen <= len(curve) - half - 1:
        ax.axvline(chosen, color=MARK, lw=1.0)
        ax.plot([chosen], [curve[chosen + half]], "o", color=MARK, ms=4)
        ax.set_title(f"sync curve: chosen offset {chosen:+d} frames", fontsize=8)
    else:
        ax.set_title("sync curve", fontsize=8)
    ax.set_xlabel("offset (frames; + = sound late)")
    ax.set_ylabel("confidence")
    return _data_uri(fig)


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
