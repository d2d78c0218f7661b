"""Fitting the reference scorer's evidence weights to human labels, cross-validated against the defaults.

Per dimension the calibrated score keeps the reference scorer's form -- the weighted mean of
its graded evidence, capped where the reference caps -- with non-negative weights fitted to
the labels and pulled toward ``DEFAULT_WEIGHTS`` by a ridge penalty on the normalised weights:

- **pairwise judgements**: a Bradley-Terry model, P(a preferred) = sigmoid(s (score_a - score_b)),
  fitted by the vote-weighted logistic loss. Pairs fix an order, not a scale, so the mapping onto
  the label scale is the identity: the weighted mean of 1-5 grades is the score.
- **opinion scores**: squared error of a line through the weighted mean against the labels
  rescaled linearly onto 1-5, then the four-parameter logistic of
  :mod:`tqscore.calibration.agree` maps the weighted mean onto the labels (monotone increasing;
  chosen over isotonic regression, whose flat steps would tie clips the weights tell apart).

scipy's L-BFGS-B minimises both losses under the bounds (weights >= ``W_FLOOR``). The penalty's
strength is chosen from ``LAMBDAS`` by held-out loss over the training groups. Agreement is
then measured out of sample: the labels are split by group (a person, a folder, a video),
leave-one-group-out with up to ``LOGO_MAX_GROUPS`` groups and ``K_FOLDS``-fold by group above,
with scikit-learn's splitters; every observation is predicted by weights fitted without its
group, and compared with the default weights on the same observations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

from tqscore.calibration.agree import apply_mapping, fit_mapping
from tqscore.calibration.evidence import Evidence, cap_values, combine, weighted_means
from tqscore.training.metrics import BOOTSTRAP_SEED, N_BOOTSTRAP, compute_metric
from tqscore.training.pairs import pair_agreement

# Ridge strengths tried, as multiples of the loss (both losses are about 0.5-1 per observation
# at the defaults): from weights almost free (0.1) to weights near the defaults (10).
LAMBDAS = (0.1, 1.0, 10.0)
# A grade keeps at least this share of the weight, so a clip whose only measured grade is one the
# labels gave no weight is still scored (the reference leaves a score None only with a cause).
W_FLOOR = 1e-3
LOGO_MAX_GROUPS = 10  # up to this many groups each is held out in turn
K_FOLDS = 5  # above that, this many folds by group (the usual k of cross-validation)
MIN_GROUPS = 3  # a held-out group needs at least two others to fit on


@dataclass
class Observations:
    """One dimension's labels as indices into the evidence rows."""

    kind: str  # "pairs" or "opinion"
    a: np.ndarray  # row of the clip (opinion) or of side a (pairs)
    b: np.ndarray | None  # row of side b (pairs)
    target: np.ndarray  # pairs: share of votes for a; opinion: the label rescaled onto 1-5
    weight: np.ndarray  # pairs: number of votes; opinion: 1
    groups: np.ndarray  # the split unit of each observation

    def __len__(self) -> int:
        return self.a.size

    def subset(self, mask: np.ndarray) -> Observations:
        return Observations(self.kind, self.a[mask], None if self.b is None else self.b[mask], self.target[mask],
                            self.weight[mask], self.groups[mask])


@dataclass
class Model:
    weights: np.ndarray
    mapping: dict | None  # opinion: fit_mapping's description; pairs: None (identity)
    lam: float


def _normalised(w: np.ndarray) -> np.ndarray:
    return w / w.sum()


def _mean_and_slope(grades: np.ndarray, w: np.ndarray, caps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``combine``'s scores and their derivative by each weight (zero where a cap decides)."""
    mean, total = weighted_means(grades, w)
    present = np.isfinite(grades) & (w > 0)
    slope = np.where(present, np.nan_to_num(grades) - np.nan_to_num(mean)[:, None], 0.0)
    slope /= np.where(total > 0, total, 1.0)[:, None]
    free = np.isfinite(mean) & (mean <= cap_values(caps))  # a mean of 1-5 grades is never clipped
    return combine(grades, w, caps), np.where(free[:, None], slope, 0.0)


def loss_and_grad(theta, grades, caps, obs: Observations, w0, lam) -> tuple[float, np.ndarray]:
    """The fitting loss (Bradley-Terry or squared error, plus the ridge toward ``w0`` and the
    pin of the weights' sum to 1) and its gradient, for L-BFGS-B."""
    k = w0.size
    w = theta[:k]
    total = w.sum()
    u = w / total
    loss = lam * float(np.sum((u - w0) ** 2)) + (total - 1.0) ** 2
    grad = np.zeros_like(theta)
    grad[:k] = 2 * lam / total * ((u - w0) - np.dot(u - w0, u)) + 2 * (total - 1.0)
    score, dscore = _mean_and_slope(grades, w, caps)
    if obs.kind == "pairs":
        d = score[obs.a] - score[obs.b]
        ok = np.isfinite(d)
        t, n, d = obs.target[ok], obs.weight[ok] / max(obs.weight[ok].sum(), 1e-12), d[ok]
        z = theta[k] * d
        loss -= float(np.sum(n * (t * log_expit(z) + (1 - t) * log_expit(-z))))
        dz = n * (expit(z) - t)
        grad[:k] += (dz * theta[k]) @ (dscore[obs.a[ok]] - dscore[obs.b[ok]])
        grad[k] = float(np.sum(dz * d))
        return loss, grad
    x = score[obs.a]
    ok = np.isfinite(x)
    scale = 1.0 / (max(int(ok.sum()), 1) * max(float(np.var(obs.target[ok])) if ok.any() else 0.0, 1e-6))
    err = theta[k] + theta[k + 1] * x[ok] - obs.target[ok]
    loss += float(np.sum(err**2)) * scale
    grad[:k] += 2 * scale * theta[k + 1] * (err @ dscore[obs.a[ok]])
    grad[k], grad[k + 1] = 2 * scale * err.sum(), 2 * scale * float(err @ x[ok])
    return loss, grad


def _local(ev: Evidence, label: str, weights: dict, obs: Observations):
    """The grades and caps of only the rows ``obs`` uses, and ``obs`` re-indexed onto them (fits
    evaluate the loss thousands of times; the other labels' weights stay fixed during one)."""
    used = np.unique(np.concatenate([obs.a, obs.b]) if obs.b is not None else obs.a)
    where = np.searchsorted(used, obs.a), None if obs.b is None else np.searchsorted(used, obs.b)
    local = Observations(obs.kind, where[0], where[1], obs.target, obs.weight, obs.groups)
    return ev.matrix(label, weights)[used], ev.caps[label][used], local


def fit_weights(ev: Evidence, label: str, weights: dict, obs: Observations, lam: float) -> Model:
    """Weights of ``label`` (and its mapping) fitted to ``obs``; ``weights`` gives the other labels'."""
    w0 = _normalised(weights[label] if weights[label].sum() > 0 else np.ones_like(weights[label]))
    k = w0.size
    grades, caps, local = _local(ev, label, weights, obs)
    extra, bounds_extra = ([1.0], [(0.0, None)]) if obs.kind == "pairs" else ([0.0, 1.0], [(None, None), (0.0, None)])
    result = minimize(loss_and_grad, np.concatenate([w0, extra]), args=(grades, caps, local, w0, lam), jac=True,
                      method="L-BFGS-B", bounds=[(W_FLOOR, None)] * k + bounds_extra)
    w = _normalised(np.maximum(result.x[:k], W_FLOOR))
    mapping = None
    if obs.kind == "opinion":
        x = combine(grades, w, caps)[local.a]
        ok = np.isfinite(x)
        _, mapping = fit_mapping(x[ok], obs.target[ok])
    return Model(w, mapping, lam)


def predict(ev: Evidence, label: str, weights: dict, model: Model | None) -> np.ndarray:
    """Scores of every evidence row under ``model`` (None: the weights as given), mapped onto 1-5."""
    w = dict(weights) if model is None else {**weights, label: model.weights}
    score = ev.score(label, w)
    if model is not None and model.mapping is not None:
        score = np.clip(apply_mapping(model.mapping, score), 1.0, 5.0)
    return score


def splits(groups: np.ndarray):
    """(train mask, test mask) per fold, by group."""
    n = np.unique(groups).size
    splitter = LeaveOneGroupOut() if n <= LOGO_MAX_GROUPS else GroupKFold(n_splits=K_FOLDS)
    for train, test in splitter.split(groups, groups=groups):
        tr = np.zeros(groups.size, bool)
        tr[train] = True
        yield tr, ~tr


def observed(score: np.ndarray, obs: Observations) -> np.ndarray:
    """Per-observation predictions from per-row scores: (n, 2) for pairs, (n,) for opinions."""
    return np.column_stack([score[obs.a], score[obs.b]]) if obs.kind == "pairs" else score[obs.a]


def heldout_loss(pred: np.ndarray, obs: Observations) -> float:
    """Held-out loss: squared error on 1-5 for opinions; for pairs the vote-weighted log loss at the
    best Bradley-Terry slope (the order of the scores is what is tested, not their spread)."""
    if obs.kind == "opinion":
        ok = np.isfinite(pred)
        return float(np.mean((pred[ok] - obs.target[ok]) ** 2)) if ok.any() else math.inf
    d = pred[:, 0] - pred[:, 1]
    ok = np.isfinite(d)
    if not ok.any():
        return math.inf
    d, t, n = d[ok], obs.target[ok], obs.weight[ok]
    # Bradley-Terry slopes per grade point up to 10, where a 0.1-grade difference is already a 73 %
    # preference: steeper than any panel's votes; a grid keeps the held-out fit cheap and exact enough.
    slopes = np.linspace(0.0, 10.0, 101)[:, None]
    loss = -(n * (t * log_expit(slopes * d) + (1 - t) * log_expit(-slopes * d))).sum(axis=1) / n.sum()
    return float(loss.min())


def choose_lambda(ev: Evidence, label: str, weights: dict, obs: Observations) -> float:
    """The ridge strength with the least held-out loss over ``obs``'s own groups."""
    if np.unique(obs.groups).size < MIN_GROUPS:
        return max(LAMBDAS)
    best = (math.inf, max(LAMBDAS))
    for lam in LAMBDAS:
        total = 0.0
        for tr, te in splits(obs.groups):
            model = fit_weights(ev, label, weights, obs.subset(tr), lam)
            held = obs.subset(te)
            total += heldout_loss(observed(predict(ev, label, weights, model), held), held) * te.sum()
        best = min(best, (total, lam))
    return best[1]


def measure(pred: np.ndarray, obs: Observations, key: str) -> float:
    """One agreement measure of per-observation predictions: the study's pair measures
    (weighted, majority), or SRCC and PLCC after the four-parameter logistic (srcc, plcc)."""
    if obs.kind == "pairs":
        return getattr(pair_agreement(pred[:, 0], pred[:, 1], obs.target, 1 - obs.target), key)
    ok = np.isfinite(pred)
    y, x = obs.target[ok], pred[ok]
    if key == "srcc":
        return compute_metric("spearman", y, x)
    return compute_metric("pearson", y, fit_mapping(x, y)[0])


def measures(pred: np.ndarray, obs: Observations) -> dict[str, float]:
    keys = ("weighted", "majority") if obs.kind == "pairs" else ("srcc", "plcc")
    return {key: measure(pred, obs, key) for key in keys}


def primary(obs: Observations) -> str:
    """The measure a calibration must improve out of sample to replace the default."""
    return "weighted" if obs.kind == "pairs" else "srcc"


def gain_interval(calibrated: np.ndarray, default: np.ndarray, obs: Observations) -> list[float | None]:
    """95 % interval of (calibrated - default) on the primary measure, by a paired bootstrap over observations."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    key = primary(obs)
    gains = []
    for idx in rng.integers(0, len(obs), size=(N_BOOTSTRAP, len(obs))):
        part = obs.subset(idx)
        gains.append(measure(calibrated[idx], part, key) - measure(default[idx], part, key))
    gains = np.array(gains)
    gains = gains[np.isfinite(gains)]
    if gains.size < N_BOOTSTRAP // 2:
        return [None, None]
    low, high = np.percentile(gains, [2.5, 97.5])
    return [float(low), float(high)]
