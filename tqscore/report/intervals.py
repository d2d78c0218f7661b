"""Bootstrap 95 % intervals for the report's group means, paired win shares and ranking.

Every interval is a percentile bootstrap over the unit that was sampled: clips for a group's
mean, inputs for a paired comparison. Two shortcuts keep 100,000 rows and 30 groups cheap
without changing what is computed:

- A win share's bootstrap distribution is known exactly: drawing ``n`` inputs with replacement
  from ``n`` of which ``w`` were won makes the number won ``Binomial(n, w / n)``, so the
  interval is that distribution's 2.5th and 97.5th percentiles (``scipy.stats.binom.ppf``):
  the limit of infinitely many resamples, with no Monte Carlo error and no seed.
- Means and ratios are resampled by Monte Carlo (``RESAMPLES`` draws, generator seeded with
  ``SEED``, so a table gives the same interval every time, in the report and in ``tqscore
  compare`` alike). A resample is a vector of counts (how often each item was drawn), so one
  matrix product gives the resampled means of every score at once, nulls left out per score.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.stats import binom

CONFIDENCE = 0.95  # the interval papers and benchmarks report
LOW_Q, HIGH_Q = (1 - CONFIDENCE) / 2, 1 - (1 - CONFIDENCE) / 2
# Efron & Tibshirani, "An Introduction to the Bootstrap" (1993), ch. 19: 1,000-2,000 resamples
# for a percentile interval; the larger end, since a group's resampling costs milliseconds.
RESAMPLES = 2000
SEED = 0
CHUNK_CELLS = 20_000_000  # resample counts held at once (80 MB of float32): bounds memory at 100,000 clips


@lru_cache(maxsize=65536)  # a table has few distinct (won, n): 435 pairs x 5 scores on 3,334 inputs ask ~200
def share_interval(won: int, n: int) -> tuple[float, float]:
    """Bootstrap 95 % interval of the share ``won / n`` (exact: binomial percentiles)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = won / n
    return float(binom.ppf(LOW_Q, n, p) / n), float(binom.ppf(HIGH_Q, n, p) / n)


def resample_counts(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(resamples, n)`` float32: how often each of ``n`` items is drawn in each resample of size ``n``."""
    draws = rng.integers(0, n, size=(resamples, n))
    draws += np.arange(resamples)[:, None] * n
    return np.bincount(draws.ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float32)


class Resampler:
    """``RESAMPLES`` count vectors for ``n`` items, in chunks of at most ``CHUNK_CELLS`` cells; a
    size that fits in one chunk is drawn once and kept, so samples of the same size share it."""

    def __init__(self, seed=SEED):
        self.rng = np.random.default_rng(seed)
        self.kept: dict[int, np.ndarray] = {}

    def chunks(self, n: int):
        step = max(1, CHUNK_CELLS // max(n, 1))
        if step >= RESAMPLES:
            if n not in self.kept:
                self.kept[n] = resample_counts(n, RESAMPLES, self.rng)
            yield self.kept[n]
            return
        for start in range(0, RESAMPLES, step):
            yield resample_counts(n, min(step, RESAMPLES - start), self.rng)


def mean_intervals(values: np.ndarray, rng: Resampler) -> list[tuple[float, float, float, int] | None]:
    """Per column of ``values`` (clips x scores, NaN = null): (mean, low, high, count), or None without values."""
    valid = np.isfinite(values)
    filled = np.where(valid, values, 0.0).astype(np.float32)
    weights = valid.astype(np.float32)
    boot = ratio_resamples(filled, weights, rng)
    out = []
    for j in range(values.shape[1]):
        count = int(valid[:, j].sum())
        if count == 0:
            out.append(None)
            continue
        low, high = percentiles(boot[:, j])
        out.append((float(filled[:, j].sum() / count), low, high, count))
    return out


def ratio_resamples(numerators: np.ndarray, denominators: np.ndarray, rng: Resampler) -> np.ndarray:
    """``(RESAMPLES, columns)``: per resample of the rows, column sums of ``numerators`` over ``denominators``.

    NaN where a resample's denominator is zero (none of the drawn rows counts for that column).
    """
    out = np.empty((RESAMPLES, numerators.shape[1]), np.float64)
    start = 0
    for counts in rng.chunks(numerators.shape[0]):
        num = counts @ numerators
        den = counts @ denominators
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + len(counts)] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
        start += len(counts)
    return out


def percentiles(samples: np.ndarray) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the finite ``samples`` (NaN, NaN when there are none)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    low, high = np.quantile(finite, [LOW_Q, HIGH_Q])
    return float(low), float(high)
