"""Fold the fitted preprocessing (docs/method.md §7) into the fusion model's first Linear layers.

Per modality the preprocessing is affine after the NaN imputation (``tqscore.model.preprocess``)::

    z = (x - mean) / scale;   y = C (z - pca_mean);   h = W y + b

so ``h = W' x + b'`` with ``W' = W C diag(1 / scale)`` and ``b' = b - W C (mean / scale + pca_mean)``.
The fused weights are computed in float64 and rounded once to float32; the served graph has an
IsNaN/Where for the imputation, one Linear per modality on the raw stream, and no PCA step.
The one subtraction that folding moves inside the Linear (``W' x - W' mean``) loses a few bits
when ``mean / scale`` is large (landmarks: values near 0.5, spread ~0.05); the test bounds the
resulting score error on such inputs, and TensorRT keeps these layers in FP32 (``graphs.py``).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from tqscore.layout import FEATURE_WIDTH, STREAM_NAMES, STREAM_WIDTHS
from tqscore.model.preprocess import ModalityTransform, Preprocessing


def fold_linear(linear: nn.Linear, t: ModalityTransform) -> nn.Linear:
    """A Linear on the imputed raw stream equal to ``linear`` applied after ``t``'s z-score and PCA."""
    w = linear.weight.detach().double().cpu().numpy()
    b = linear.bias.detach().double().cpu().numpy() if linear.bias is not None else np.zeros(w.shape[0])
    if w.shape[1] != t.out_width:
        raise ValueError(f"first Linear takes {w.shape[1]} inputs but the preprocessing gives {t.out_width}")
    if not (np.all(np.isfinite(t.scale)) and np.all(t.scale > 0)):
        raise ValueError("preprocessing scale has zero, negative or non-finite entries; cannot fold 1/scale")
    wc = w @ t.components.astype(np.float64)
    w_folded = wc / t.scale.astype(np.float64)
    b_folded = b - wc @ (t.mean.astype(np.float64) / t.scale.astype(np.float64) + t.pca_mean.astype(np.float64))
    folded = nn.Linear(t.in_width, w.shape[0])
    with torch.no_grad():
        folded.weight.copy_(torch.from_numpy(w_folded))
        folded.bias.copy_(torch.from_numpy(b_folded))
    return folded


class FoldedFusion(nn.Module):
    """Raw per-frame streams (B, T, 4237) with NaNs, and a (B, T) frame mask -> (B, 5) scores."""

    def __init__(self, model: nn.Module, preprocessing: Preprocessing):
        super().__init__()
        missing = [m for m in STREAM_NAMES if m not in preprocessing.transforms]
        if missing:
            raise ValueError(f"preprocessing has no transform for {missing}")
        self.model = copy.deepcopy(model).float().cpu().eval()
        for m in STREAM_NAMES:
            t = preprocessing.transforms[m]
            if t.in_width != STREAM_WIDTHS[m]:
                raise ValueError(f"preprocessing of '{m}' takes width {t.in_width}, the layout says {STREAM_WIDTHS[m]}")
            if not np.all(np.isfinite(t.median)):
                raise ValueError(f"preprocessing of '{m}' has non-finite medians; NaN imputation would keep NaNs")
            self.model.embed[m][0] = fold_linear(self.model.embed[m][0], t)
        median = np.concatenate([preprocessing.transforms[m].median for m in STREAM_NAMES]).astype(np.float32)
        self.register_buffer("median", torch.from_numpy(median))
        self.widths = [STREAM_WIDTHS[m] for m in STREAM_NAMES]

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        # One IsNaN/Where over all 4237 columns, then a split: the imputation is one op pair in the graph.
        x = torch.where(torch.isnan(features), self.median, features)
        streams = torch.split(x, self.widths, dim=-1)
        return self.model(*streams, frame_mask=frame_mask)


def unfolded_scores(model: nn.Module, preprocessing: Preprocessing, features: np.ndarray, frame_mask: np.ndarray,
                    dtype: torch.dtype = torch.float64) -> np.ndarray:
    """Reference: the preprocessing applied as separate steps, then the model, all in ``dtype``."""
    if features.shape[-1] != FEATURE_WIDTH:
        raise ValueError(f"features must be (B, T, {FEATURE_WIDTH}), got {features.shape}")
    ref = copy.deepcopy(model).to(dtype).cpu().eval()
    x = torch.from_numpy(np.asarray(features, np.float64)).to(dtype)
    streams = torch.split(x, [STREAM_WIDTHS[m] for m in STREAM_NAMES], dim=-1)
    inputs = {m: preprocessing.transforms[m].apply(s) for m, s in zip(STREAM_NAMES, streams)}
    with torch.no_grad():
        return ref(**inputs, frame_mask=torch.from_numpy(np.asarray(frame_mask)).to(dtype)).numpy()
