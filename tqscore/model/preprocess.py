"""Preprocessing of docs/method.md §7: median imputation, per-modality z-score, per-modality PCA.

Fitted once on the training split with scikit-learn (``SimpleImputer``-style median via
numpy, ``StandardScaler``, ``PCA``) and kept as plain arrays, so that loading a bundle needs
neither sklearn nor pickles, and export can fold the arrays into the fusion model's first
Linear layer. For one modality with raw frame vector x (width d)::

    x_i  = median_i            where x_i is NaN
    z    = (x - mean) / scale                    # StandardScaler; scale 1 for constant features
    y    = components @ (z - pca_mean)           # components: (k, d), rows = PCA axes (sklearn layout)

so a following ``Linear(W, b)`` on y equals ``Linear(W', b')`` on the imputed x with
``W' = W @ components @ diag(1 / scale)`` and
``b' = b - W @ components @ (mean / scale + pca_mean)``.
A modality without PCA (the AUs by default; every modality in ablation E6) stores the identity
as ``components`` and zeros as ``pca_mean``, so the formula above holds for every modality.

Padding frames (``frame_mask == 0``, all zeros) do not enter the fit: they are not data, and a
clip padded from 3 s to 6 s would otherwise pull every median and mean towards zero. They are
still transformed at apply time (the model ignores them through the frame mask).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tqscore.errors import ModelError
from tqscore.layout import STREAMS

log = logging.getLogger(__name__)

ARRAYS = ("median", "mean", "scale", "components", "pca_mean")
# Enough frames for stable 200-component PCAs while keeping the fit in memory (2048 x 200k
# float32 = 1.6 GB for the visual stream); more are subsampled with the fit seed.
MAX_FIT_FRAMES = 200_000


@dataclass
class ModalityTransform:
    median: np.ndarray  # (d,)
    mean: np.ndarray  # (d,)
    scale: np.ndarray  # (d,)
    components: np.ndarray  # (k, d)
    pca_mean: np.ndarray  # (d,)
    variance_kept: float  # fraction of the standardised variance the k components keep (1.0 without PCA)

    def __post_init__(self) -> None:
        # float32 everywhere: what is saved is exactly what training used.
        for key in ARRAYS:
            setattr(self, key, np.ascontiguousarray(getattr(self, key), dtype=np.float32))

    @property
    def in_width(self) -> int:
        return self.components.shape[1]

    @property
    def out_width(self) -> int:
        return self.components.shape[0]

    @property
    def has_pca(self) -> bool:
        return self.out_width != self.in_width or not np.array_equal(self.components, np.eye(self.in_width))

    def apply(self, x):
        """(..., d) numpy array or torch tensor -> (..., k), same library and float dtype."""
        if x.shape[-1] != self.in_width:
            raise ValueError(f"expected feature width {self.in_width}, got {tuple(x.shape)}")
        if isinstance(x, np.ndarray):
            x = np.where(np.isnan(x), self.median, x)
            z = (x - self.mean) / self.scale - self.pca_mean
            return (z @ self.components.T).astype(np.float32)
        import torch

        arrays = {k: torch.as_tensor(getattr(self, k), dtype=x.dtype, device=x.device) for k in ARRAYS}
        x = torch.where(torch.isnan(x), arrays["median"], x)
        return ((x - arrays["mean"]) / arrays["scale"] - arrays["pca_mean"]) @ arrays["components"].T


@dataclass
class Preprocessing:
    transforms: dict[str, ModalityTransform]  # keyed and ordered as tqscore.layout.STREAMS

    @property
    def out_widths(self) -> dict[str, int]:
        return {k: t.out_width for k, t in self.transforms.items()}

    @property
    def variance_kept(self) -> dict[str, float]:
        return {k: t.variance_kept for k, t in self.transforms.items()}

    def apply(self, features: dict, chunk: int = 256) -> dict:
        """Transform each modality of ``{name: (N, T, d)}`` (numpy in chunks of clips, or torch)."""
        out = {}
        for name, t in self.transforms.items():
            x = features[name]
            if isinstance(x, np.ndarray) and x.ndim == 3 and len(x) > chunk:
                out[name] = np.concatenate([t.apply(x[i : i + chunk]) for i in range(0, len(x), chunk)])
            else:
                out[name] = t.apply(x)
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat ``{"visual.mean": array, ...}`` for safetensors."""
        out = {}
        for name, t in self.transforms.items():
            for key in ARRAYS:
                out[f"{name}.{key}"] = getattr(t, key)
            out[f"{name}.variance_kept"] = np.array([t.variance_kept], np.float64)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], source: str = "preprocessing") -> Preprocessing:
        transforms = {}
        for stream in STREAMS:
            try:
                fields = {k: np.asarray(arrays[f"{stream.name}.{k}"], np.float32) for k in ARRAYS}
                variance = float(arrays[f"{stream.name}.variance_kept"][0])
            except KeyError as exc:
                raise ModelError(f"{source}: missing preprocessing array {exc.args[0]}") from None
            t = ModalityTransform(**fields, variance_kept=variance)
            d = stream.width
            shapes_ok = (
                t.median.shape == t.mean.shape == t.scale.shape == t.pca_mean.shape == (d,)
                and t.components.ndim == 2
                and t.components.shape[1] == d
            )
            if not shapes_ok:
                raise ModelError(f"{source}: preprocessing arrays of '{stream.name}' do not fit width {d}")
            transforms[stream.name] = t
        return cls(transforms)


def _fit_modality(x: np.ndarray, k: int | None, seed: int) -> ModalityTransform:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    d = x.shape[1]
    median = np.nanmedian(x, axis=0) if np.isnan(x).any() else np.median(x, axis=0)
    median = np.nan_to_num(median, nan=0.0)  # a feature that is NaN on every frame imputes to 0
    x = np.where(np.isnan(x), median, x)
    scaler = StandardScaler().fit(x)
    if k is None or k >= d:
        return ModalityTransform(median, scaler.mean_, scaler.scale_, np.eye(d, dtype=np.float32), np.zeros(d), 1.0)
    if k > len(x):
        raise ModelError(f"PCA with {k} components needs at least {k} training frames, got {len(x)}")
    pca = PCA(n_components=k, random_state=seed).fit(scaler.transform(x).astype(np.float32))
    return ModalityTransform(
        median, scaler.mean_, scaler.scale_, pca.components_, pca.mean_, float(pca.explained_variance_ratio_.sum())
    )


def fit_rows(frame_mask: np.ndarray, clips: np.ndarray | None, max_fit_frames: int, seed: int) -> np.ndarray:
    """Flat frame indices (clip * T + frame) to fit on: real frames of ``clips``, subsampled with ``seed``."""
    real = np.asarray(frame_mask).astype(bool)
    if clips is not None:
        keep = np.zeros(len(real), bool)
        keep[np.asarray(clips)] = True
        real = real & keep[:, None]
    if not real.any():
        raise ModelError("no real frames to fit the preprocessing on (every frame_mask is 0)")
    rows = np.flatnonzero(real.reshape(-1))
    if len(rows) > max_fit_frames:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_fit_frames, replace=False))
    return rows


def fit_from_frames(
    gather: Callable[[str, np.ndarray], np.ndarray],
    rows: np.ndarray,
    components: dict[str, int | None] | None = None,
    seed: int = 42,
) -> Preprocessing:
    """Fit each modality on ``gather(name, rows)`` -> (len(rows), width) frames, one modality at a time.

    ``components`` maps a modality to its PCA width; ``None`` (or the full width) means no PCA.
    The default is the layout's widths (100/200/50/17).
    """
    components = {s.name: s.pca_components for s in STREAMS} | (components or {})
    transforms = {}
    for stream in STREAMS:
        frames = np.asarray(gather(stream.name, rows), np.float32)
        transforms[stream.name] = t = _fit_modality(frames, components.get(stream.name), seed)
        del frames
        log.info("preprocessing %s: %d -> %d, variance kept %.1f %% (fit on %d frames)",
                 stream.name, t.in_width, t.out_width, 100 * t.variance_kept, len(rows))
    return Preprocessing(transforms)


def fit_preprocessing(
    features: dict[str, np.ndarray],
    frame_mask: np.ndarray,
    components: dict[str, int | None] | None = None,
    clips: np.ndarray | None = None,
    max_fit_frames: int = MAX_FIT_FRAMES,
    seed: int = 42,
) -> Preprocessing:
    """Fit on the real frames of the clips ``clips`` (the training split) of in-memory ``{name: (N, T, d)}``.

    Only the sampled frames are copied, so the full arrays can be passed without first cutting
    out the training clips.
    """
    rows = fit_rows(frame_mask, clips, max_fit_frames, seed)

    def gather(name: str, idx: np.ndarray) -> np.ndarray:
        x = features[name]
        return x.reshape(-1, x.shape[-1])[idx]

    return fit_from_frames(gather, rows, components, seed)
