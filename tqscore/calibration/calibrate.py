"""``tqscore calibrate``: labels + a scores table -> fitted weights per dimension, judged out of sample.

The grades are recomputed from the signal columns of the scores table by the reference scorer
(no video is decoded). All dimensions share one split of the labels by group, so ``overall``,
which weighs the other scores, is fitted in each fold on the other dimensions' weights of that
fold: nothing of a held-out group reaches its prediction. A dimension is calibrated only when
its cross-validated agreement beats the default weights' on the same labels; otherwise it keeps
the defaults and the result says why, and how many labels a learning curve suggests it needs.
The folds' predictions are pooled as weighted means of grades, before each fold's mapping: a
mapping fitted to the training folds' label level would shift every held-out fold against the
others and make the pooled ranks disagree with the labels even where the weights know nothing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
from threadpoolctl import threadpool_limits

from tqscore.calibration.agree import read_scores
from tqscore.calibration.evidence import OVERALL, Evidence, default_weights, grade_names
from tqscore.calibration.fit import (K_FOLDS, LOGO_MAX_GROUPS, MIN_GROUPS, Model, Observations, choose_lambda,
                                     fit_weights, gain_interval, measures, observed, predict, primary, splits)
from tqscore.calibration.labels import CalibrationError, LabelSet
from tqscore.calibration.match import Matching, match_videos
from tqscore.calibration.scorer import FORMAT, Calibration
from tqscore.model.reference import ReferenceScorer

log = logging.getLogger(__name__)

LEARNING_SEED = 7  # which half of the training groups the learning curve keeps
MEASURE_TEXT = {"weighted": "vote-weighted agreement", "srcc": "SRCC"}


@dataclass
class DimensionResult:
    label: str
    kind: str
    n: int
    unscored: int
    status: str = "default"  # "calibrated" or "default"
    message: str = ""
    model: Model | None = None
    cv: dict = field(default_factory=dict)


def group_key(video: str, by: str) -> str:
    p = PurePosixPath(video)
    if by == "folder":
        return str(p.parent)
    if by == "name":
        return p.name
    if by == "generator":  # THQA-NTIRE names end in the generator: ..._sadtalker.mp4
        return p.stem.rsplit("_", 1)[-1]
    return video


def resolve_group_by(labels: LabelSet, by: str) -> str:
    """``auto``: pairs by the file name both sides share (the person in ADTH-QA, whose generators
    are folders), else by folder when the labels span at least MIN_GROUPS folders, else by video."""
    if by != "auto":
        return by
    if labels.kind == "pairs":
        if all(group_key(p.video_a, "name") == group_key(p.video_b, "name") for p in labels.pairs):
            return "name"
        return "video"
    folders = {group_key(o.video, "folder") for o in labels.opinions}
    return "folder" if len(folders) >= MIN_GROUPS else "video"


def observations(labels: LabelSet, label: str, matching: Matching, row_of: dict[int, int], by: str,
                 default: np.ndarray, path: str) -> tuple[Observations, int]:
    """``label``'s labels as observations on evidence rows, and how many have no score to fit."""
    index = {v: row_of[r] for v, r in matching.rows.items() if r in row_of}
    a, b, target, weight, groups, unscored = [], [], [], [], [], 0
    if labels.kind == "opinion":
        low, high = labels.scale
        for o in labels.opinions:
            if label not in o.values:
                continue
            i = index.get(o.video)
            if i is None or not math.isfinite(default[i]):
                unscored += 1
                continue
            a.append(i), target.append(1.0 + 4.0 * (o.values[label] - low) / (high - low))
            weight.append(1.0), groups.append(group_key(o.video, by))
        return Observations("opinion", np.array(a, int), None, np.array(target), np.array(weight),
                            np.array(groups, object)), unscored
    for p in labels.pairs:
        if p.dimension != label:
            continue
        i, j = index.get(p.video_a), index.get(p.video_b)
        if i is None or j is None or not (math.isfinite(default[i]) and math.isfinite(default[j])):
            unscored += 1
            continue
        ka, kb = group_key(p.video_a, by), group_key(p.video_b, by)
        if ka != kb:
            raise CalibrationError(f"line {p.line}: {p.video_a} and {p.video_b} fall in different groups by {by} "
                                   f"({ka}, {kb}); choose --group-by so that both sides of a pair share one", path)
        a.append(i), b.append(j), groups.append(ka)
        target.append(p.votes_a / (p.votes_a + p.votes_b)), weight.append(p.votes_a + p.votes_b)
    return Observations("pairs", np.array(a, int), np.array(b, int), np.array(target), np.array(weight),
                        np.array(groups, object)), unscored


def _order(labels_present: list[str]) -> list[str]:
    return [d for d in labels_present if d != OVERALL] + [d for d in labels_present if d == OVERALL]


def fit_all(ev: Evidence, problems: dict[str, Observations], train: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Fitted models (per label) and the weights they make, each trained on its ``train`` mask."""
    weights, models = default_weights(), {}
    for label in _order(list(problems)):
        obs = problems[label].subset(train[label])
        if len(obs) == 0:
            continue
        model = fit_weights(ev, label, weights, obs, choose_lambda(ev, label, weights, obs))
        models[label], weights = model, {**weights, label: model.weights}
    return models, weights


def cross_validate(ev: Evidence, problems: dict[str, Observations], keep_share: float = 1.0) -> dict[str, np.ndarray]:
    """Out-of-fold predictions per label (``keep_share`` < 1: each fold trains on that share of its groups)."""
    groups = np.concatenate([o.groups for o in problems.values()])
    oof = {label: np.full(observed(np.zeros(ev.rows), o).shape, np.nan) for label, o in problems.items()}
    rng = np.random.default_rng(LEARNING_SEED)
    for tr, te in splits(groups):
        kept = np.unique(groups[tr])
        if keep_share < 1.0:
            kept = rng.choice(kept, size=max(2, round(kept.size * keep_share)), replace=False)
        test = set(np.unique(groups[te]))
        models, weights = fit_all(ev, problems, {l: np.isin(o.groups, kept) for l, o in problems.items()})
        for label, obs in problems.items():
            mask = np.array([g in test for g in obs.groups], bool)
            if label in models:
                # the weighted mean itself, not its fold's mapping: a mapping fitted to the training labels'
                # level shifts each held-out fold against the others and corrupts the pooled ranks
                oof[label][mask] = observed(predict(ev, label, weights, None), obs)[mask]
    return oof


def _needed(n: int, gain_full: float, gain_half: float) -> str:
    """How many labels the learning curve (half the training groups -> all) suggests beat the default."""
    if not (math.isfinite(gain_full) and math.isfinite(gain_half)) or gain_full <= gain_half:
        return (f"with half of the training labels the gain was {gain_half:+.3f}, with all {gain_full:+.3f}: "
                "no trend toward beating the default, so more labels of this kind may not help")
    doublings = -gain_full / (gain_full - gain_half)  # gain grows linearly in log2(labels)
    return f"the learning curve ({gain_half:+.3f} at half, {gain_full:+.3f} at all) reaches the default at about " \
           f"{math.ceil(n * 2 ** doublings)} labels"


def calibrate(scores_path, labels: LabelSet, group_by: str = "auto") -> Calibration:
    """Fit, cross-validate and judge every dimension the labels cover; the result as a calibration."""
    table = read_scores(scores_path)
    matching = match_videos(labels, table["path"].to_list(), str(scores_path))
    used = sorted(set(matching.rows.values()))
    row_of = {r: i for i, r in enumerate(used)}
    scorer = ReferenceScorer()
    ev = Evidence.collect([table.row(r, named=True) for r in used], scorer)
    defaults = default_weights()
    by = resolve_group_by(labels, group_by)
    problems, results = {}, {}
    for label in labels.dimensions():
        obs, unscored = observations(labels, label, matching, row_of, by, ev.score(label, defaults), str(labels.source))
        results[label] = DimensionResult(label, obs.kind, len(obs), unscored)
        n_groups = np.unique(obs.groups).size
        if n_groups < MIN_GROUPS:
            results[label].message = (f"not calibrated: {len(obs)} labels in {n_groups} groups by {by}; "
                                      f"cross-validation needs labels from at least {MIN_GROUPS} groups")
        else:
            problems[label] = obs
    if problems:
        with threadpool_limits(1):  # a dozen weights per fit: BLAS threads only contend (8x slower on 2 cores)
            _judge(ev, problems, results, defaults)
    source = {"scores": str(scores_path), "labels": str(labels.source), "format": labels.format, "kind": labels.kind,
              "scale": list(labels.scale), "group_by": by, "rows_used": len(used), "matching": matching.summary()}
    return to_calibration(list(results.values()), source, scorer.model_id)


def _judge(ev: Evidence, problems: dict[str, Observations], results: dict[str, DimensionResult], defaults) -> None:
    oof = cross_validate(ev, problems)
    models, _ = fit_all(ev, problems, {l: np.ones(len(o), bool) for l, o in problems.items()})
    refused = []
    for label, obs in problems.items():
        r, key = results[label], primary(obs)
        default_pred = observed(ev.score(label, defaults), obs)
        cal, base = measures(oof[label], obs), measures(default_pred, obs)
        r.cv = {"split": "leave-one-group-out" if np.unique(obs.groups).size <= LOGO_MAX_GROUPS else
                f"{K_FOLDS}-fold by group", "groups": int(np.unique(obs.groups).size), "measure": key,
                "calibrated": cal, "default": base, "gain": cal[key] - base[key],
                "gain_ci95": gain_interval(oof[label], default_pred, obs)}
        if r.cv["gain"] > 0:
            r.status, r.model = "calibrated", models[label]
            r.message = (f"calibrated: out of sample its {MEASURE_TEXT[key]} is {cal[key]:.3f} against the "
                         f"default's {base[key]:.3f}")
        else:
            refused.append(label)
    _refit_overall(ev, problems, results, models)
    if refused:
        half = cross_validate(ev, problems, keep_share=0.5)
        for label in refused:
            obs, r = problems[label], results[label]
            key = primary(obs)
            gain_half = measures(half[label], obs)[key] - r.cv["default"][key]
            r.message = (f"not calibrated: with {len(obs)} labels its out-of-sample {MEASURE_TEXT[key]} "
                         f"{r.cv['calibrated'][key]:.3f} does not beat the default's {r.cv['default'][key]:.3f}; "
                         + _needed(len(obs), r.cv["gain"], gain_half))


def _refit_overall(ev: Evidence, problems, results: dict[str, DimensionResult], models) -> None:
    """overall weighs the other scores: fit its final weights on the ones the calibration keeps."""
    r = results.get(OVERALL)
    if r is None or r.status != "calibrated":
        return
    kept = {k: x.model.weights for k, x in results.items() if x.status == "calibrated" and k != OVERALL}
    weights = default_weights() | kept
    r.model = fit_weights(ev, OVERALL, weights, problems[OVERALL], models[OVERALL].lam)


def to_calibration(results: list[DimensionResult], source: dict, base_model: str) -> Calibration:
    dims = {}
    for r in results:
        spec = {"status": r.status, "why": r.message, "labels": r.n, "unscored": r.unscored,
                "default_weights": _named(r.label, default_weights()[r.label]), "cross_validation": _plain(r.cv)}
        if r.status == "calibrated":
            spec |= {"weights": _named(r.label, r.model.weights), "ridge": r.model.lam, "mapping": _mapping(r)}
        dims[r.label] = spec
    draft = Calibration(format=FORMAT, model_id="", base_model=base_model, data=_plain(source), dimensions=dims)
    return draft.model_copy(update={"model_id": draft.digest_id()})


def _mapping(r: DimensionResult) -> dict:
    if r.model.mapping is None:
        return {"kind": "identity", "note": "pairwise labels fix an order, not a scale: the score is the weighted "
                                            "mean of the 1-5 grades"}
    how = r.model.mapping
    return {"kind": how["mapping"], "params": how["params"],
            "note": how.get("note", "the weighted mean of the grades -> the labels rescaled linearly onto 1-5")}


def _plain(value):
    """Plain YAML values: numpy numbers as floats, NaN as null."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _named(label: str, w: np.ndarray) -> dict[str, float]:
    return {name: round(float(v), 4) for name, v in zip(grade_names(label), w)}


def summary(calibration: Calibration) -> str:
    """The cross-validated result per dimension as a Markdown table, and each dimension's verdict."""
    data = calibration.data
    lines = [f"# Calibration {calibration.model_id} of {calibration.base_model}", "",
             f"Labels {data['labels']} ({data['format']} {data['kind']}), split by {data['group_by']}.", "",
             "| dimension | labels | groups | split | measure | calibrated (CV) | default | gain [95 % CI] | status |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, d in calibration.dimensions.items():
        cv = d.cross_validation
        if not cv:
            lines.append(f"| {label} | {d.labels} | - | - | - | - | - | - | {d.status} |")
            continue
        key, (low, high) = cv["measure"], cv["gain_ci95"]
        ci = f" [{low:+.3f}, {high:+.3f}]" if low is not None else ""
        lines.append(f"| {label} | {d.labels} | {cv['groups']} | {cv['split']} | {MEASURE_TEXT[key]} | "
                     f"{_fmt(cv['calibrated'][key])} | {_fmt(cv['default'][key])} | {cv['gain']:+.3f}{ci} | "
                     f"{d.status} |")
    lines += [""] + [f"- {label}: {d.why}" for label, d in calibration.dimensions.items()]
    return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
