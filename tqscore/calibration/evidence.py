"""The reference scorer's graded evidence for many rows at once, and its combination under any weights.

``ReferenceScorer.evidence(row)`` grades each row once (the grades do not depend on the
weights); fitting then tries thousands of weight vectors, so the combination -- the weighted
mean of the present grades, capped by the label's ``CAPS`` grades, clipped to 1-5, exactly
``ReferenceScorer.combine`` -- is redone here on arrays. ``overall`` weighs the four other
scores among its grades, so its grade matrix is rebuilt from theirs under the weights given.
The tests hold :meth:`Evidence.score` to ``ReferenceScorer.score`` row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tqscore.layout import LABELS
from tqscore.model.reference import CAPS, DEFAULT_WEIGHTS, ReferenceScorer

OVERALL = "overall"
SUB_SCORES = tuple(label for label in LABELS if label != OVERALL)  # the scores overall weighs


def default_weights() -> dict[str, np.ndarray]:
    return {label: np.array(list(DEFAULT_WEIGHTS[label].values()), np.float64) for label in LABELS}


def grade_names(label: str) -> list[str]:
    return list(DEFAULT_WEIGHTS[label])


@dataclass
class Evidence:
    grades: dict[str, np.ndarray]  # label -> (rows, grades in grade_names order), NaN where not measurable
    caps: dict[str, np.ndarray]  # label -> (rows, its CAPS grades), NaN where not measurable

    @classmethod
    def collect(cls, rows: list[dict], scorer: ReferenceScorer | None = None) -> Evidence:
        scorer = scorer or ReferenceScorer()
        parts = [scorer.evidence(row) for row in rows]

        def matrix(label: str, names) -> np.ndarray:
            out = np.full((len(rows), len(names)), np.nan)
            for i, p in enumerate(parts):
                for j, name in enumerate(names):
                    value = p.get(label, {}).get(name)
                    if value is not None:
                        out[i, j] = value
            return out

        return cls({label: matrix(label, grade_names(label)) for label in LABELS},
                   {label: matrix(label, CAPS.get(label, ())) for label in LABELS})

    @property
    def rows(self) -> int:
        return next(iter(self.grades.values())).shape[0]

    def matrix(self, label: str, weights: dict[str, np.ndarray]) -> np.ndarray:
        """The grades of ``label``; for overall with the four other scores under ``weights``."""
        grades = self.grades[label]
        if label != OVERALL:
            return grades
        grades = grades.copy()
        names = grade_names(OVERALL)
        scored = np.isfinite(grades[:, names.index("face_present")])  # the picture is graded: a face was found
        for sub in SUB_SCORES:
            if sub in names:
                grades[:, names.index(sub)] = np.where(scored, self.score(sub, weights), np.nan)
        return grades

    def score(self, label: str, weights: dict[str, np.ndarray]) -> np.ndarray:
        """``label``'s score per row under ``weights`` (NaN where the reference scorer gives None)."""
        return combine(self.matrix(label, weights), weights[label], self.caps[label])

    def take(self, index: np.ndarray) -> Evidence:
        return Evidence({k: v[index] for k, v in self.grades.items()}, {k: v[index] for k, v in self.caps.items()})


def weighted_means(grades: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the weighted mean of the present grades (weight > 0; NaN where none) and their total weight."""
    present = np.isfinite(grades) & (weights > 0)
    total = present @ weights
    mean = np.where(present, grades, 0.0) @ weights / np.where(total > 0, total, 1.0)
    return np.where(total > 0, mean, np.nan), total


def cap_values(caps: np.ndarray) -> np.ndarray:
    """Per row, the lowest present cap grade (infinity where none)."""
    if not caps.shape[1]:
        return np.full(caps.shape[0], np.inf)
    return np.min(np.where(np.isfinite(caps), caps, np.inf), axis=1)


def combine(grades: np.ndarray, weights: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Weighted mean of the present grades (weight > 0), capped by the present caps, clipped to 1-5."""
    mean, _ = weighted_means(grades, weights)
    return np.clip(np.minimum(mean, cap_values(caps)), 1.0, 5.0)
