"""How well a scores table agrees with human labels, per dimension, with bootstrap intervals.

Opinion scores get the four figures of the quality-assessment literature (VQEG, "Final report
from the Video Quality Experts Group on the validation of objective models of video quality
assessment", 2000/2003; the NTIRE challenges report the same): SRCC and KRCC on the raw scores
(rank measures need no mapping), PLCC and RMSE after the standard four-parameter logistic
mapping of scores onto the label scale. All eleven metrics of
:mod:`tqscore.training.metrics` (its 200x percentile bootstrap with a fixed seed) are kept in
the JSON report. The logistic is fitted once on the full sample with
``scipy.optimize.curve_fit``; where it does not converge (or there are fewer points than its
four parameters) a least-squares line with a non-negative slope is used instead, and the report
says so. The mapping is monotone increasing, so a measure that ranks clips the wrong way round
never gains a positive PLCC from it.

Pairwise judgements get the ADTH-QA study's measures (:func:`tqscore.training.pairs.pair_agreement`):
the vote-weighted two-alternative agreement, majority agreement and the ceiling, with 200x
bootstrap intervals over pairs (same count and seed as the metrics).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import polars as pl
from scipy.optimize import OptimizeWarning, curve_fit, lsq_linear
from scipy.special import expit

from tqscore.calibration.labels import CalibrationError, LabelSet
from tqscore.calibration.match import Matching, match_videos
from tqscore.layout import LABELS
from tqscore.numeric import finite_or_none
from tqscore.training.metrics import BOOTSTRAP_SEED, CONFIDENCE, N_BOOTSTRAP, evaluate_dimension
from tqscore.training.pairs import pair_agreement

HEADLINE = (("srcc", "spearman", "raw"), ("plcc", "pearson", "mapped"), ("krcc", "kendall", "raw"),
            ("rmse", "rmse", "mapped"))
PAIR_MEASURES = ("weighted", "majority", "ceiling")
SHOWN = 20  # names listed in the Markdown report; the JSON lists every one


def read_scores(path: str | Path) -> pl.DataFrame:
    """A ``tqscore batch`` table: needs ``path`` and the five score columns."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError("scores table not found (make one with `tqscore batch DIR --out FILE`)", path)
    try:
        table = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise CalibrationError(f"cannot read it as Parquet: {exc}", path) from None
    missing = [c for c in ("path", *LABELS) if c not in table.columns]
    if missing:
        raise CalibrationError(f"not a tqscore batch table: no column {missing}", path)
    return table


def logistic4(x, low, span, mid, slope):
    """VQEG's four-parameter logistic, increasing: ``low + span / (1 + exp(-(x - mid) / slope))``."""
    return low + span * expit((x - mid) / slope)


def fit_mapping(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, dict]:
    """Scores ``p`` mapped onto the label scale of ``y``, and how (parameters, or why the fallback)."""
    if p.size >= 5 and np.ptp(p) > 0:
        spread = float(np.std(p)) or 1.0
        start = [float(y.min()), float(np.ptp(y)) or 1.0, float(np.median(p)), spread]
        bounds = ([-np.inf, 0.0, -np.inf, 1e-6 * spread], [np.inf, np.inf, np.inf, np.inf])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", OptimizeWarning)
                params, _ = curve_fit(logistic4, p, y, p0=start, bounds=bounds, maxfev=20000)
            mapped = logistic4(p, *params)
            if np.isfinite(mapped).all():
                return mapped, {"mapping": "logistic4", "params": dict(zip(("low", "span", "mid", "slope"),
                                                                          map(finite_or_none, params)))}
            why = "it gave values that are not finite"
        except (RuntimeError, OptimizeWarning, ValueError) as exc:
            why = f"it did not converge ({' '.join(str(exc).split())[:120]})"
    else:
        why = f"{p.size} points with {'no' if p.size and np.ptp(p) == 0 else 'too little'} spread for its 4 parameters"
    design = np.column_stack([np.ones_like(p), p])
    a, b = lsq_linear(design, y, bounds=([-np.inf, 0.0], [np.inf, np.inf])).x if p.size else (0.0, 0.0)
    return a + b * p, {"mapping": "linear", "params": {"intercept": float(a), "slope": float(b)},
                       "note": f"the four-parameter logistic was not used: {why}; PLCC and RMSE are after a "
                               "least-squares line with a non-negative slope"}


def apply_mapping(how: dict, x: np.ndarray) -> np.ndarray:
    """The mapping ``fit_mapping`` described in ``how`` applied to new scores ``x``."""
    params = how["params"]
    if how["mapping"] == "logistic4":
        return logistic4(np.asarray(x, np.float64), params["low"], params["span"], params["mid"], params["slope"])
    return params["intercept"] + params["slope"] * np.asarray(x, np.float64)


def _score(table: pl.DataFrame, dim: str, row: int | None) -> float | None:
    return None if row is None else finite_or_none(table[dim][row])


def opinion_report(labels: LabelSet, matching: Matching, table: pl.DataFrame) -> dict:
    out = {}
    for dim in labels.dimensions():
        rated = [(o.values[dim], _score(table, dim, matching.rows.get(o.video))) for o in labels.opinions
                 if dim in o.values]
        known = [(y, p) for y, p in rated if p is not None]
        y = np.array([k[0] for k in known], np.float64)
        p = np.array([k[1] for k in known], np.float64)
        mapped, how = fit_mapping(p, y)
        reports = {"raw": evaluate_dimension(y, p), "mapped": evaluate_dimension(y, mapped)}
        out[dim] = {
            "n": int(y.size),
            "missing": len(rated) - len(known),
            **{key: reports[which].metrics[metric].to_dict() for key, metric, which in HEADLINE},
            "mapping": how,
            "metrics_after_mapping": reports["mapped"].to_dict(),
        }
    return out


def _interval(boots: np.ndarray, value: float) -> list[float | None]:
    """Percentile interval, widened to hold the point value (as tqscore.training.metrics does)."""
    boots = boots[np.isfinite(boots)]
    if not math.isfinite(value) or boots.size < N_BOOTSTRAP // 2:
        return [None, None]
    tail = (1.0 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(boots, [tail, 100 - tail])
    return [float(min(low, value)), float(max(high, value))]


def pairs_with_bootstrap(score_a, score_b, votes_a, votes_b) -> dict:
    """The study's three measures on a set of pairs, each with a 200x bootstrap interval over pairs."""
    point = pair_agreement(score_a, score_b, votes_a, votes_b)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    n = len(score_a)
    boots = {m: [] for m in PAIR_MEASURES}
    for idx in rng.integers(0, n, size=(N_BOOTSTRAP, n)) if n else []:
        r = pair_agreement(*([seq[i] for i in idx] for seq in (score_a, score_b, votes_a, votes_b)))
        for m in PAIR_MEASURES:
            boots[m].append(getattr(r, m))
    out = {"n": point.n, "missing": point.missing}
    for m in PAIR_MEASURES:
        value = getattr(point, m)
        out[m] = {"value": finite_or_none(value), "ci95": _interval(np.array(boots[m], np.float64), value)}
    return out


def pairs_report(labels: LabelSet, matching: Matching, table: pl.DataFrame) -> dict:
    out = {}
    for question in dict.fromkeys(p.question for p in labels.pairs):
        pairs = [p for p in labels.pairs if p.question == question]
        dim = pairs[0].dimension
        a = [_score(table, dim, matching.rows.get(p.video_a)) for p in pairs]
        b = [_score(table, dim, matching.rows.get(p.video_b)) for p in pairs]
        result = pairs_with_bootstrap(a, b, [p.votes_a for p in pairs], [p.votes_b for p in pairs])
        out[question] = {"score": dim, **result}
    return out


def agree(scores_path: str | Path, labels: LabelSet) -> dict:
    """The whole report as plain JSON values."""
    table = read_scores(scores_path)
    matching = match_videos(labels, table["path"].to_list(), str(scores_path))
    body = (opinion_report if labels.kind == "opinion" else pairs_report)(labels, matching, table)
    models = sorted({m for m in table["model_id"].to_list() if m}) if "model_id" in table.columns else []
    return {
        "scores": str(scores_path), "labels": str(labels.source), "format": labels.format, "kind": labels.kind,
        "scale": list(labels.scale), "model_id": models,
        "bootstrap": {"resamples": N_BOOTSTRAP, "seed": BOOTSTRAP_SEED},
        "matching": matching.summary(), "dimensions": body,
    }


def _ci(entry: dict, digits: int = 3) -> str:
    value, (low, high) = entry["value"], entry["ci95"]
    if value is None:
        return "n/a" + (f" ({entry['reason']})" if entry.get("reason") else "")
    text = f"{value:.{digits}f}"
    return text + (f" [{low:.{digits}f}, {high:.{digits}f}]" if low is not None else "")


def to_markdown(report: dict) -> str:
    lines = [f"# Agreement of {report['scores']} with {report['labels']}", "",
             f"Labels: {report['format']} {report['kind']}, scale {report['scale'][0]:g}-{report['scale'][1]:g}; "
             f"scores by {', '.join(report['model_id']) or 'unknown model'}; 95 % intervals from "
             f"{report['bootstrap']['resamples']} bootstrap resamples (seed {report['bootstrap']['seed']}).", ""]
    dims = report["dimensions"]
    if report["kind"] == "opinion":
        lines += ["| dimension | n | SRCC | PLCC (logistic) | KRCC | RMSE (logistic) | unscored |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {d} | {r['n']} | {_ci(r['srcc'])} | {_ci(r['plcc'])} | {_ci(r['krcc'])} | {_ci(r['rmse'])} | "
                  f"{r['missing']} |" for d, r in dims.items()]
        lines += [f"\n{d}: {r['mapping']['note']}" for d, r in dims.items() if r["mapping"].get("note")]
    else:
        lines += ["| question | score | pairs | weighted 2AFC | majority | ceiling | unscored |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {q} | {r['score']} | {r['n']} | {_ci(r['weighted'])} | {_ci(r['majority'])} | "
                  f"{_ci(r['ceiling'])} | {r['missing']} |" for q, r in dims.items()]
    lines.append("\nunscored: labelled, but without a score here (unmatched, or null in the scores table).")
    m = report["matching"]
    lines += ["", f"Matched {m['matched_by_path']} videos by path and {len(m['matched_by_name'])} by file name; "
              f"{len(m['unmatched'])} unmatched."]
    by_name, unmatched = m["matched_by_name"], m["unmatched"]
    if by_name:
        lines.append("By file name: " + ", ".join(by_name[:SHOWN]) + (" ..." if len(by_name) > SHOWN else ""))
    if unmatched:
        shown = ", ".join(f"{u['video']} (line {u['line']})" for u in unmatched[:SHOWN])
        more = f" and {len(unmatched) - SHOWN} more (all in the JSON)" if len(unmatched) > SHOWN else ""
        lines.append(f"Unmatched: {shown}{more}")
    return "\n".join(lines) + "\n"


def write_report(report: dict, out: str | Path) -> tuple[Path, Path]:
    """``OUT.json`` and ``OUT.md`` (``out`` without extension, or with .json/.md, which is dropped)."""
    base = Path(out)
    if base.suffix in (".json", ".md"):
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = base.parent / f"{base.name}.json", base.parent / f"{base.name}.md"
    json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    md_path.write_text(to_markdown(report), encoding="utf-8")
    return json_path, md_path
