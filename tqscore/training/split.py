"""The stratified 80/10/10 train/validation/test split (docs/method.md §10, seed 42).

Stratum of a clip = which of the five labels it has (the availability pattern, since 27 % of
some dimensions are missing) + the three-class bin of its ``overall`` label (or of the first
label it has when ``overall`` is missing). Both matter: a test set without, say, expression
labels or without low-quality clips would give meaningless metrics. Strata with fewer than
``MIN_STRATUM`` clips are pooled into one, so that each stratum can be cut three ways.
Sizes follow the seed: 1588/199/198 on 1985 clips.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from tqscore.layout import LABELS
from tqscore.training.metrics import ACC3_EDGES, bin_scores

MIN_STRATUM = 10
FRACTIONS = (0.8, 0.1, 0.1)


def split_sizes(n: int, fractions: tuple[float, float, float] = FRACTIONS) -> tuple[int, int, int]:
    """Train/val/test counts; the seed's 1985 clips give 1588/199/198."""
    n_test = int(n * fractions[2] + 1e-9)
    n_val = int(round(n * (fractions[1] + fractions[2]))) - n_test
    return n - n_val - n_test, n_val, n_test


def strata(labels: np.ndarray, present: np.ndarray) -> list[str]:
    overall = LABELS.index("overall")
    keys = []
    for row, mask in zip(labels, present):
        pattern = "".join("1" if m else "0" for m in mask)
        ref = overall if mask[overall] else (int(np.flatnonzero(mask)[0]) if mask.any() else None)
        level = "-" if ref is None else str(int(bin_scores(np.array([row[ref]]), ACC3_EDGES)[0]))
        keys.append(f"{pattern}/{level}")
    counts = defaultdict(int)
    for k in keys:
        counts[k] += 1
    return [k if counts[k] >= MIN_STRATUM else "pooled" for k in keys]


def _every_kth(n: int, k: int) -> np.ndarray:
    """Boolean mask choosing k of n positions evenly spread along the list."""
    i = np.arange(n)
    return (np.floor((i + 1) * k / max(n, 1)) > np.floor(i * k / max(n, 1))) if k else np.zeros(n, bool)


def stratified_split(
    labels: np.ndarray, present: np.ndarray, seed: int = 42, fractions: tuple[float, float, float] = FRACTIONS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (train, val, test), each sorted; deterministic for a seed.

    Clips are ordered by stratum (random order inside a stratum) and the test and validation
    clips are taken at evenly spaced positions along that list: the global sizes are exact and
    every stratum is represented in each part in proportion, to within one clip.
    """
    n = len(labels)
    _, n_val, n_test = split_sizes(n, fractions)
    keys = np.array(strata(labels, present))
    shuffle = np.random.default_rng(seed).permutation(n)
    order = shuffle[np.argsort(keys[shuffle], kind="stable")]
    is_test = _every_kth(n, n_test)
    rest = order[~is_test]
    is_val = _every_kth(len(rest), n_val)
    return np.sort(rest[~is_val]), np.sort(rest[is_val]), np.sort(order[is_test])
