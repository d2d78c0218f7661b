"""The eleven metrics against SciPy / scikit-learn, undefined cases and bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    mean_absolute_error,
    mean_squared_error,
    median_absolute_error,
    r2_score,
)

from tqscore.training.metrics import (
    ACC3_EDGES,
    METRICS,
    QWK_EDGES,
    compute_metric,
    error_statistics,
    evaluate_dimension,
)


def _ccc_reference(y, p):
    # Lin (1989) with population moments, written from the definition.
    sxy = np.cov(y, p, bias=True)[0, 1]
    return 2 * sxy / (np.var(y) + np.var(p) + (np.mean(y) - np.mean(p)) ** 2)


def _bins(x, edges):
    # Right-closed bins written with np.digitize, independent of the package's searchsorted.
    return np.digitize(x, edges, right=True)


REFERENCES = {
    "mse": mean_squared_error,
    "rmse": lambda y, p: math.sqrt(mean_squared_error(y, p)),
    "mae": mean_absolute_error,
    "medae": median_absolute_error,
    "r2": r2_score,
    "pearson": lambda y, p: stats.pearsonr(y, p)[0],
    "spearman": lambda y, p: stats.spearmanr(y, p)[0],
    "kendall": lambda y, p: stats.kendalltau(y, p)[0],
    "ccc": _ccc_reference,
    "acc3": lambda y, p: accuracy_score(_bins(y, ACC3_EDGES), _bins(p, ACC3_EDGES)),
    "qwk": lambda y, p: cohen_kappa_score(
        _bins(y, QWK_EDGES), _bins(p, QWK_EDGES), weights="quadratic", labels=list(range(5))
    ),
}


def _scores(seed, n=120, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.uniform(1, 5, n)
    p = np.clip(y + rng.normal(0, 0.7, n), 1, 5)
    if ties:  # ratings on a half-point grid: many ties for the rank metrics
        y, p = np.round(y * 2) / 2, np.round(p * 2) / 2
    return y, p


def test_reference_table_covers_all_metrics():
    assert set(REFERENCES) == set(METRICS) and len(METRICS) == 11


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("name", METRICS)
def test_metric_matches_reference(name, seed, ties):
    y, p = _scores(seed, ties=ties)
    assert compute_metric(name, y, p) == pytest.approx(REFERENCES[name](y, p), rel=1e-9, abs=1e-12)


def test_bins_follow_spec_boundaries():
    from tqscore.training.metrics import bin_scores

    assert bin_scores(np.array([1.0, 2.33, 2.34, 3.67, 3.68, 5.0]), ACC3_EDGES).tolist() == [0, 0, 1, 1, 2, 2]


def test_constant_target_gives_nan_with_reason():
    y = np.full(50, 4.763)  # the seed's lip_sync labels
    p = np.random.default_rng(0).uniform(1, 5, 50)
    report = evaluate_dimension(y, p)
    for name in ("pearson", "spearman", "kendall", "r2"):
        assert math.isnan(report.metrics[name].value)
        assert "constant" in report.metrics[name].reason
    # Error-based metrics stay defined.
    assert report.metrics["mse"].value == pytest.approx(mean_squared_error(y, p))
    assert report.to_dict()["metrics"]["pearson"]["value"] is None


def test_constant_prediction_and_tiny_samples_do_not_crash():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    report = evaluate_dimension(y, np.full(4, 3.0))
    assert math.isnan(report.metrics["pearson"].value) and "prediction" in report.metrics["pearson"].reason
    for n in (0, 1):
        report = evaluate_dimension(np.ones(n), np.ones(n))
        assert report.n == n
        for name in ("pearson", "spearman", "kendall", "r2", "ccc", "qwk"):
            assert math.isnan(report.metrics[name].value) and report.metrics[name].reason, (n, name)


@pytest.mark.parametrize("seed", [0, 3])
def test_every_interval_contains_its_point_estimate(seed):
    y, p = _scores(seed, n=25, ties=True)
    report = evaluate_dimension(y, p)
    for name, m in report.metrics.items():
        assert np.isfinite(m.value), name
        assert m.low <= m.value <= m.high, (name, m)
        assert m.low < m.high, name


def test_bootstrap_is_reproducible_and_seeded():
    y, p = _scores(5, n=60)
    a, b = evaluate_dimension(y, p), evaluate_dimension(y, p)
    c = evaluate_dimension(y, p, seed=7)
    assert a.to_dict() == b.to_dict()
    assert a.metrics["pearson"].low != c.metrics["pearson"].low


def test_error_statistics():
    y, p = _scores(4)
    a = np.abs(p - y)
    stats_ = error_statistics(y, p)
    assert stats_ == pytest.approx({"mean": a.mean(), "std": a.std(), "median": np.median(a), "p90": np.percentile(a, 90)})
