"""Agreement with human pairwise judgements, measured the way the ADTH-QA study does.

Zhang et al., "A Comparative Study of Perceptual Quality Metrics for Audio-driven Talking Head
Videos" (ICIP 2024, arXiv 2403.06421): raters compare two clips and vote for one; a measure
"picks" the clip it scores higher and earns the share of the votes that clip got (a tie in the
measure earns half). Averaged over pairs, 0.5 is chance; always siding with the majority is the
ceiling. Plain majority agreement (did the measure pick the majority's clip) is reported beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairAgreement:
    weighted: float  # vote-weighted two-alternative agreement (the study's measure)
    majority: float  # share of pairs where the measure picks the majority's clip (ties count half)
    ceiling: float  # the weighted agreement of always picking the majority's clip
    n: int  # pairs with a score on both sides
    missing: int  # pairs left out because one side has no score


def pair_agreement(score_a, score_b, votes_a, votes_b, higher_is_better: bool = True) -> PairAgreement:
    """The study's agreement of one measure over a set of judged pairs.

    ``score_a``/``score_b``: the measure on each side (None or NaN = no score: the pair is counted
    in ``missing``, never silently as a tie). ``votes_a``/``votes_b``: how many raters preferred
    each side. Pairs whose votes tie give 0.5 whatever the measure picks, as in the study.
    """
    a = np.array([math.nan if v is None else float(v) for v in score_a], dtype=np.float64)
    b = np.array([math.nan if v is None else float(v) for v in score_b], dtype=np.float64)
    va = np.asarray(votes_a, dtype=np.float64)
    vb = np.asarray(votes_b, dtype=np.float64)
    if not (a.shape == b.shape == va.shape == vb.shape) or a.ndim != 1:
        raise ValueError("scores and votes must be equal-length 1-D sequences")
    if ((va + vb) <= 0).any():
        raise ValueError("every pair needs at least one vote")
    if not higher_is_better:
        a, b = -a, -b
    known = np.isfinite(a) & np.isfinite(b)
    share_a = va[known] / (va[known] + vb[known])
    pick = np.sign(a[known] - b[known])  # +1 picks a, -1 picks b, 0 a tie
    earned = np.where(pick > 0, share_a, np.where(pick < 0, 1 - share_a, 0.5))
    majority_side = np.sign(share_a - 0.5)
    agree = np.where(majority_side == 0, 0.5, np.where(pick == 0, 0.5, (pick == majority_side).astype(float)))
    ceiling = np.maximum(share_a, 1 - share_a)
    n = int(known.sum())
    mean = (lambda x: float(x.mean()) if n else math.nan)
    return PairAgreement(mean(earned), mean(agree), mean(ceiling), n, int((~known).sum()))
