"""Evaluation reports: the eleven metrics per dimension with bootstrap intervals, as JSON and Markdown."""

from __future__ import annotations

import math

import numpy as np

from tqscore.layout import LABELS, MISSING_LABEL
from tqscore.training.metrics import METRICS, N_BOOTSTRAP, evaluate_dimension

METRIC_TITLES = {
    "mse": "MSE", "rmse": "RMSE", "mae": "MAE", "medae": "MedAE", "r2": "R^2", "pearson": "Pearson r",
    "spearman": "Spearman rho", "kendall": "Kendall tau", "ccc": "CCC", "acc3": "Acc (3 classes)", "qwk": "QWK",
}


def evaluate_predictions(labels: np.ndarray, preds: np.ndarray, n_bootstrap: int = N_BOOTSTRAP) -> dict:
    """Per dimension, over the clips that have that label: metrics, intervals, |error| statistics."""
    dims = {}
    for k, label in enumerate(LABELS):
        have = labels[:, k] != MISSING_LABEL
        dims[label] = evaluate_dimension(labels[have, k], preds[have, k], n_bootstrap=n_bootstrap).to_dict()
    return {"n_clips": int(len(labels)), "n_bootstrap": n_bootstrap, "confidence": 0.95, "dimensions": dims,
            "mean_pearson": mean_pearson(dims)}


def mean_pearson(dims: dict) -> float | None:
    """Mean Pearson r over the dimensions where it is defined (None if none is)."""
    values = [d["metrics"]["pearson"]["value"] for d in dims.values() if d["metrics"]["pearson"]["value"] is not None]
    return float(np.mean(values)) if values else None


def _fmt(value: float | None) -> str:
    return "NaN" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def report_markdown(report: dict, title: str = "Evaluation") -> str:
    dims = report["dimensions"]
    lines = [f"# {title}", "", f"{report['n_clips']} clips; 95 % bootstrap intervals from "
             f"{report['n_bootstrap']} resamples (fixed seed). Mean Pearson r: {_fmt(report['mean_pearson'])}.", ""]
    lines += ["| metric | " + " | ".join(dims) + " |", "|---|" + "---|" * len(dims)]
    lines.append("| n | " + " | ".join(str(d["n"]) for d in dims.values()) + " |")
    for name in METRICS:
        cells = []
        for d in dims.values():
            m = d["metrics"][name]
            low, high = m["ci95"]
            cells.append(_fmt(m["value"]) + ("" if low is None else f" [{_fmt(low)}, {_fmt(high)}]"))
        lines.append(f"| {METRIC_TITLES[name]} | " + " | ".join(cells) + " |")
    lines += ["", "|abs error| | " + " | ".join(dims) + " |", "|---|" + "---|" * len(dims)]
    for stat in ("mean", "std", "median", "p90"):
        lines.append(f"| {stat} | " + " | ".join(_fmt(d["abs_error"][stat]) for d in dims.values()) + " |")
    notes = [f"- {label} {METRIC_TITLES[name]}: {m['reason']}" for label, d in dims.items()
             for name, m in d["metrics"].items() if m.get("reason")]
    if notes:
        lines += ["", "Undefined values:", *notes]
    return "\n".join(lines) + "\n"


def json_safe(obj):
    """Copy for strict JSON: NaN / inf become None, numpy scalars become floats."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj
