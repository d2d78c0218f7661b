"""How the head-motion ranges of real footage grow with the time they are taken over.

Four expression grades read a range over the whole clip (``head_yaw_range_deg``,
``head_pitch_range_deg``, ``head_roll_range_deg``, ``head_translation_iod``: 5th-95th percentile
ranges, tqscore/signals/head.py), and a range over a longer stretch of the same motion is wider.
This cuts every real recording into windows of ``LENGTHS_S`` seconds (half-overlapping, as many
as fit), runs the project's own ``head_motion_signals`` and ``expression_signals`` on each window
as on a clip of that length (the pose is fitted to the window alone), and fits
log(range) = a_recording + alpha log(T): one intercept per recording, so alpha comes from how one
recording's ranges grow, not from which recordings are long. A recording weighs once per window
length (the median over its windows), whatever its number of windows. The same fit on the
per-second signals (speed, still share, blink rate, brow speed) should give alpha near 0.

    python benchmarks/head_ranges.py --frames DIR    # dense passes saved by dense_passes.py --out DIR (~15 s)
    python benchmarks/head_ranges.py CLIP ...                      # clips analysed here (a folder 'real' = real)
    python benchmarks/head_ranges.py                               # every real recording of ../shared, here
    python benchmarks/head_ranges.py --smoke                       # the 4-s smoke clip, 1- and 2-s windows

The growth slows with T, so the pooled fit is printed over the windows up to and from the one
nearest the reference duration (8 s): these are ``tqscore.model.reference.RANGE_GROWTH_SHORT``
and ``RANGE_GROWTH_LONG``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import common
import dense_passes
from tqscore.model.reference import RANGE_GROWTH_LONG, RANGE_GROWTH_SHORT, RANGE_SIGNALS, REFERENCE_DURATION_S
from tqscore.signals.expression import expression_signals
from tqscore.signals.head import fit_pose, head_motion_signals

LENGTHS_S = (2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 30.0)
SMOKE_LENGTHS_S = (1.0, 2.0)
RATE_SIGNALS = ("head_rotation_speed_dps", "head_still_ratio", "blink_rate_per_min", "brow_motion")
# expression_variability is a spread of the face's shape over the clip (weight 0 in expression): shown, not used.
SPREAD_SIGNALS = ("expression_variability",)
SIGNALS = RANGE_SIGNALS + RATE_SIGNALS + SPREAD_SIGNALS
# Resamplings of the recordings for the exponents' intervals: on the 31 real recordings 200 put the
# range exponents' 5th and 95th percentiles within 0.01 of where 2000 do (seconds, not a minute);
# the smoke run only checks the code path.
DRAWS, SMOKE_DRAWS = 200, 5


@dataclass
class Recording:
    path: str
    times: np.ndarray
    landmarks: np.ndarray
    found: np.ndarray
    aspect: float

    @property
    def span_s(self) -> float:
        return float(self.times[-1] - self.times[0] + np.median(np.diff(self.times))) if len(self.times) > 1 else 0.0


def from_dense(dense: dict) -> Recording:
    """A recording from its dense pass (``dense_passes.analyse`` or ``dense_passes.load``)."""
    return Recording(dense["path"], dense["times"], dense["landmarks"], dense["face_found"], dense["aspect"])


def shared_real_clips() -> list[Path]:
    """Every real recording of ../shared (media, corpus, validation): what runs without inputs."""
    return [p for p in dense_passes.shared_clips() if common.is_real(str(p))]


def window_signals(rec: Recording, start: int, stop: int) -> dict:
    """The range and rate signals of frames [start, stop) as of a clip holding only those frames."""
    times, marks, found = rec.times[start:stop] - rec.times[start], rec.landmarks[start:stop], rec.found[start:stop]
    fit = fit_pose(marks, rec.aspect, found)
    row = head_motion_signals(marks, found, times, rec.aspect, fit)
    return row | expression_signals(marks, found, times, rec.aspect, None, fit)


def windows(rec: Recording, length_s: float) -> list[tuple[int, int]]:
    """Half-overlapping windows of ``length_s`` inside the recording, as frame index ranges."""
    t = rec.times - rec.times[0]
    starts = np.arange(0.0, rec.span_s - length_s + 1e-6, length_s / 2)
    return [(int(np.searchsorted(t, s - 1e-9)), int(np.searchsorted(t, s + length_s - 1e-9))) for s in starts]


def measure(recordings: list[Recording], lengths=LENGTHS_S) -> dict[str, dict[tuple[str, float], float]]:
    """signal -> (recording, window length) -> median of the signal over that recording's windows."""
    out: dict[str, dict] = {name: {} for name in SIGNALS}
    for rec in recordings:
        for length in (L for L in lengths if L <= rec.span_s + 1e-6):
            rows = [window_signals(rec, a, b) for a, b in windows(rec, length)]
            for name in SIGNALS:
                values = [r[name] for r in rows if r.get(name) is not None and np.isfinite(r[name])]
                if values:
                    out[name][(rec.path, length)] = float(np.median(values))
    return out


def fit_alpha(cells: dict[tuple[str, float], float]) -> tuple[float | None, int]:
    """Within-recording slope of log(value) on log(T) (one intercept per recording), and the number
    of recordings with at least two window lengths. Non-positive values are left out (no log)."""
    by_rec: dict[str, list[tuple[float, float]]] = {}
    for (path, length), value in cells.items():
        if value > 0:
            by_rec.setdefault(path, []).append((np.log(length), np.log(value)))
    xs, ys = [], []
    for points in by_rec.values():
        if len(points) >= 2:
            x, y = np.array(points).T
            xs.append(x - x.mean())
            ys.append(y - y.mean())
    if not xs:
        return None, 0
    x, y = np.concatenate(xs), np.concatenate(ys)
    return float((x * y).sum() / (x * x).sum()), len(xs)


def growth_table(measured: dict, lengths) -> None:
    """Per signal: the median over recordings of value(T) / value(shortest T with a value), and alpha."""
    print(f"\n| signal | {' | '.join(f'{L:g} s' for L in lengths)} | alpha | recordings |")
    print("|---|" + "---|" * (len(lengths) + 2))
    for name in SIGNALS:
        cells = measured[name]
        base = min((L for _, L in cells), default=lengths[0])
        ratios = []
        for L in lengths:
            r = [v / cells[(p, base)] for (p, l), v in cells.items() if l == L and cells.get((p, base), 0) > 0]
            ratios.append(f"{np.median(r):.2f} ({len(r)})" if r else "-")
        alpha, n = fit_alpha(cells)
        print(f"| `{name}` | {' | '.join(ratios)} | {'-' if alpha is None else f'{alpha:+.3f}'} | {n} |")


def pooled_alpha(measured: dict, names=RANGE_SIGNALS) -> float | None:
    """One exponent for the four ranges: the within-recording fit over all four at once."""
    cells = {(f"{name}|{p}", L): v for name in names for (p, L), v in measured[name].items()}
    return fit_alpha(cells)[0]


def split_alphas(measured: dict, lengths) -> tuple[float | None, float | None]:
    """The pooled fit over the windows up to and from the length nearest REFERENCE_DURATION_S
    (both include it): the exponent below and above the reference duration."""
    split = min(lengths, key=lambda L: abs(np.log(L / REFERENCE_DURATION_S)))
    short = {n: {k: v for k, v in measured[n].items() if k[1] <= split} for n in RANGE_SIGNALS}
    long = {n: {k: v for k, v in measured[n].items() if k[1] >= split} for n in RANGE_SIGNALS}
    return pooled_alpha(short), pooled_alpha(long)


def resampled(measured: dict, rng: np.random.Generator) -> dict:
    """``measured`` over recordings drawn with replacement (a recording drawn twice counts twice)."""
    paths = sorted({p for cells in measured.values() for p, _ in cells})
    drawn = rng.choice(paths, size=len(paths), replace=True)
    return {name: {(f"{p}#{k}", L): v for k, p in enumerate(drawn) for (q, L), v in cells.items() if q == p}
            for name, cells in measured.items()}


def bootstrap_table(measured: dict, lengths, draws: int, seed: int = 0) -> None:
    """5th-95th percentile of each exponent over ``draws`` resamplings of the recordings."""
    rng = np.random.default_rng(seed)
    runs = [resampled(measured, rng) for _ in range(draws)]
    rows = [(f"`{n}`", [fit_alpha(r[n])[0] for r in runs]) for n in SIGNALS]
    rows += [("four ranges, every window", [pooled_alpha(r) for r in runs]),
             ("four ranges, short side", [split_alphas(r, lengths)[0] for r in runs]),
             ("four ranges, long side", [split_alphas(r, lengths)[1] for r in runs])]
    print(f"\n| exponent | 5th-95th percentile over {draws} resamplings of the recordings |\n|---|---|")
    for label, values in rows:
        kept = [v for v in values if v is not None]
        interval = "{:+.3f} .. {:+.3f}".format(*np.percentile(kept, [5, 95])) if kept else "-"
        print(f"| {label} | {interval} |")


def _show(alpha: float | None) -> str:
    return "-" if alpha is None else f"{alpha:.3f}"


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("clips", nargs="*", type=Path, help="clips to analyse here (a path with a folder 'real' is real)")
    p.add_argument("--frames", type=Path, help="a folder of saved dense passes (dense_passes.py --out)")
    args = p.parse_args()
    print("machine:", common.machine())
    lengths = SMOKE_LENGTHS_S if args.smoke else LENGTHS_S
    if args.frames:
        recordings = [from_dense(dense_passes.load(f)) for f in sorted(args.frames.glob("*.npz"))]
    elif args.smoke:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            recordings = [from_dense(dense_passes.analyse(common.smoke_clip(Path(tmp))))]
    else:
        recordings = [from_dense(dense_passes.analyse(c)) for c in args.clips or shared_real_clips()]
    recordings = recordings if args.smoke else [r for r in recordings if common.is_real(r.path)]
    if not recordings:
        p.error("no real recordings: give clips under a folder 'real' or a --frames folder")
    spans = sorted(r.span_s for r in recordings)
    print(f"{len(recordings)} recordings, {spans[0]:.1f}-{spans[-1]:.1f} s (median {np.median(spans):.2f} s); "
          f"windows of {', '.join(f'{L:g}' for L in lengths)} s, half-overlapping")
    measured = measure(recordings, lengths)
    growth_table(measured, lengths)
    short, long = split_alphas(measured, lengths)
    print(f"\npooled alpha of the four ranges: {_show(pooled_alpha(measured))} over every window; "
          f"{_show(short)} up to and {_show(long)} from the window nearest {REFERENCE_DURATION_S:g} s")
    print(f"shipped (tqscore.model.reference): RANGE_GROWTH_SHORT = {RANGE_GROWTH_SHORT}, "
          f"RANGE_GROWTH_LONG = {RANGE_GROWTH_LONG}, REFERENCE_DURATION_S = {REFERENCE_DURATION_S}")
    bootstrap_table(measured, lengths, SMOKE_DRAWS if args.smoke else DRAWS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
