"""The eleven evaluation metrics of docs/method.md §11, their bootstrap intervals and error statistics.

Written with numpy/scipy directly (not sklearn's scorers) so that every undefined case returns
NaN with a reason instead of sklearn's silent 0.0/1.0 for a constant target; the tests check
each value against SciPy / scikit-learn where the metric is defined. Spearman and Kendall come
from ``scipy.stats`` (tie-aware: average ranks, tau-b).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

METRICS: tuple[str, ...] = (
    "mse", "rmse", "mae", "medae", "r2", "pearson", "spearman", "kendall", "ccc", "acc3", "qwk",
)
# Three-class bins of docs/method.md §11: [1, 2.33], (2.33, 3.67], (3.67, 5].
ACC3_EDGES = (2.33, 3.67)
# Quadratic weighted kappa on five equal bins of the 1-5 scale.
QWK_EDGES = (1.8, 2.6, 3.4, 4.2)
N_BOOTSTRAP = 200
BOOTSTRAP_SEED = 42
CONFIDENCE = 0.95


@dataclass
class MetricValue:
    value: float
    low: float = math.nan
    high: float = math.nan
    reason: str | None = None  # why ``value`` is NaN

    def to_dict(self) -> dict:
        out = {"value": _json_float(self.value), "ci95": [_json_float(self.low), _json_float(self.high)]}
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class DimensionReport:
    n: int
    metrics: dict[str, MetricValue]
    errors: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "abs_error": {k: _json_float(v) for k, v in self.errors.items()},
        }


def _json_float(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _constant(a: np.ndarray) -> bool:
    return a.size == 0 or bool(np.all(a == a[0]))


def _undefined_reason(y: np.ndarray, p: np.ndarray, needs_variance: bool) -> str | None:
    if y.size < 2:
        return f"needs at least 2 labelled samples, got {y.size}"
    if needs_variance and _constant(y):
        return f"target is constant ({y[0]:.4g}); the metric is undefined"
    if needs_variance and _constant(p):
        return "prediction is constant; the metric is undefined"
    return None


def bin_scores(x: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Class index per score; a value equal to an edge falls in the lower class (right-closed bins)."""
    return np.searchsorted(np.asarray(edges), x, side="left")


def quadratic_kappa(a: np.ndarray, b: np.ndarray, n_classes: int) -> float:
    observed = np.zeros((n_classes, n_classes))
    np.add.at(observed, (a, b), 1.0)
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    idx = np.arange(n_classes)
    weights = (idx[:, None] - idx[None, :]) ** 2
    denom = (weights * expected).sum()
    return math.nan if denom == 0 else 1.0 - (weights * observed).sum() / denom


def _point(name: str, y: np.ndarray, p: np.ndarray) -> tuple[float, str | None]:
    """One metric on one sample; NaN and a reason where it is undefined."""
    err = p - y
    if y.size == 0:
        return math.nan, "no labelled samples"
    if name == "mse":
        return float(np.mean(err**2)), None
    if name == "rmse":
        return float(np.sqrt(np.mean(err**2))), None
    if name == "mae":
        return float(np.mean(np.abs(err))), None
    if name == "medae":
        return float(np.median(np.abs(err))), None
    if name == "acc3":
        return float(np.mean(bin_scores(y, ACC3_EDGES) == bin_scores(p, ACC3_EDGES))), None
    if name == "r2":
        reason = _undefined_reason(y, p, needs_variance=False)
        if reason is None and _constant(y):
            reason = f"target is constant ({y[0]:.4g}); R^2 is undefined"
        if reason:
            return math.nan, reason
        return float(1.0 - np.sum(err**2) / np.sum((y - y.mean()) ** 2)), None
    if name in ("pearson", "spearman", "kendall"):
        reason = _undefined_reason(y, p, needs_variance=True)
        if reason:
            return math.nan, reason
        fn = {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}[name]
        return float(fn(y, p)[0]), None
    if name == "ccc":
        reason = _undefined_reason(y, p, needs_variance=False)
        if reason:
            return math.nan, reason
        cov = np.mean((y - y.mean()) * (p - p.mean()))
        denom = y.var() + p.var() + (y.mean() - p.mean()) ** 2
        if denom == 0:
            return math.nan, "target and prediction are the same constant; CCC is undefined"
        return float(2.0 * cov / denom), None
    if name == "qwk":
        if y.size < 2:
            return math.nan, f"needs at least 2 labelled samples, got {y.size}"
        value = quadratic_kappa(bin_scores(y, QWK_EDGES), bin_scores(p, QWK_EDGES), len(QWK_EDGES) + 1)
        return value, ("target and prediction fall in one and the same bin; kappa is undefined"
                       if math.isnan(value) else None)
    raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")


def compute_metric(name: str, y_true, y_pred) -> float:
    """The point value of one metric (NaN where undefined)."""
    return _point(name, np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64))[0]


def error_statistics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Mean, std, median and 90th percentile of |error|."""
    a = np.abs(np.asarray(p, np.float64) - np.asarray(y, np.float64))
    if a.size == 0:
        return {k: math.nan for k in ("mean", "std", "median", "p90")}
    return {"mean": float(a.mean()), "std": float(a.std()), "median": float(np.median(a)),
            "p90": float(np.percentile(a, 90))}


def evaluate_dimension(
    y_true, y_pred, n_bootstrap: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED
) -> DimensionReport:
    """All eleven metrics with percentile bootstrap intervals, plus error statistics.

    The point value is the metric on the full sample. Resamples on which a metric is undefined
    (e.g. a resample that happens to be constant) are dropped; with fewer than half of the
    resamples usable the interval is NaN. A percentile interval of a skewed statistic can miss
    the full-sample value on small samples; it is then widened to include it, so every
    reported interval contains its point estimate.
    """
    y = np.asarray(y_true, np.float64)
    p = np.asarray(y_pred, np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"targets {y.shape} and predictions {p.shape} must be equal-length 1-D arrays")
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, y.size, size=(n_bootstrap, y.size)) if y.size else np.empty((0, 0), int)
    tail = (1.0 - CONFIDENCE) / 2 * 100
    out: dict[str, MetricValue] = {}
    for name in METRICS:
        value, reason = _point(name, y, p)
        if math.isnan(value) or n_bootstrap == 0:
            out[name] = MetricValue(value, reason=reason)
            continue
        boots = np.array([_point(name, y[i], p[i])[0] for i in samples])
        boots = boots[np.isfinite(boots)]
        if boots.size < max(1, n_bootstrap // 2):
            out[name] = MetricValue(value, reason=f"only {boots.size}/{n_bootstrap} bootstrap resamples defined")
            continue
        low, high = np.percentile(boots, [tail, 100 - tail])
        out[name] = MetricValue(value, float(min(low, value)), float(max(high, value)))
    return DimensionReport(int(y.size), out, error_statistics(y, p))
