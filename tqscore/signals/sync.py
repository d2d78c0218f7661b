"""Training-free A/V sync: offset and confidence from Face Mesh mouth shape and the audio.

For every candidate offset L in -15..+15 frames (SyncNet's search range) the mouth features of
each frame are paired with the audio features at the frame's time + L frames, and the two are
compared by their first canonical correlation (ridge-regularised CCA) inside 3-s windows at
most 0.5 s apart, spread over the whole clip, averaged over windows. The offset is the L with
the highest mean correlation; the confidence is that peak minus the median over all L, like
SyncNet's (median distance minus minimum).

Why CCA and not one correlation: the mouth shape is three numbers per frame (inner-lip area,
mean opening of five lip-point pairs, mouth width, each divided by the inter-ocular distance so
face size and distance do not matter) and the audio six log band energies (F1 through
fricatives). Which mouth movement goes with which band differs by speaker and language; CCA
finds the best pairing per clip without learned weights, and since the same number of
dimensions is fitted at every L, its optimism is the same at every L and cancels in the peak.
Measured on the shared clips' standard clips with their audio shifted by -10..+10 frames
(``benchmarks/signals_sync.py``; docs/signals.md, A/V sync): the simple
estimator (inner-lip area vs 300-3000 Hz energy, median of 2-s windows) puts 81.7 % of the
cases within one frame of estimate(0) + k, with per-clip constants at k = 0 of -10..+11
frames; this estimator puts 99.2 % there, with constants of -2..+3.

Windows: 3 s every <= 0.5 s, spread over the whole clip, so the last second is read too.
Against 4-s windows every 1 s from the first frame, in the same run (``benchmarks/sync_agreement.py``
and ``--cuts``; docs/signals.md, A/V sync): own audio beats every other utterance on 5/5 real
recordings against 3/5, equivariance within one frame on the dense pass 126/126 against
119/126, and on 5-s cuts of the real clips own audio against a wholly foreign one AUC 0.95
against 0.84. Windows of 4 s spread the same way reach 0.86-0.88 on the cuts; 3 s is also
``min_span_s``, below which no estimate is given. What it does not do: a clip whose audio is only partly another
utterance's is not ranked reliably by how much. On the whole real clips with each of 6 other
utterances (``benchmarks/sync_agreement.py --partial``) the confidence falls in 79 % of the
1/3 -> 2/3 -> all steps (worst clip 61 %): once the foreign part passes about half, the own part
is too short to lift the best offset above what the maximum over 31 offsets of an unrelated
audio reaches. Read at the clean copy's own offset (an oracle) it falls in 96 % (worst 83 %):
most of the loss is the offset search, the rest the evidence itself.

Sign: positive offset = audio lags the video (the sound of a mouth movement comes L frames
later). Frames may be irregularly spaced (the standard clip samples 150 frames of longer
videos); audio features are taken at each frame's own time, so that costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tqscore.layout import SAMPLE_RATE
from tqscore.signals.dsp import ENERGY_FLOOR, SPEECH_BAND_HZ, SYNC_BANDS_HZ, band_energy_track, sample_track
from tqscore.signals.geometry import mouth_features


@dataclass(frozen=True)
class SyncConfig:
    max_offset: int = 15  # frames searched either side, as SyncNet
    # CCA windows of 3 s at most 0.5 s apart, spread over the whole clip (a clip under 3 s is one
    # window). Measured against 4-s windows every 1 s from the start (which leave up to 1 s at
    # the end unread): docs/signals.md, A/V sync.
    window_s: float = 3.0
    hop_s: float = 0.5
    energy_window_s: float = 0.04  # one frame of audio per feature
    ridge: float = 0.1  # added to the standardised covariance diagonals
    min_pairs: float = 0.5  # share of a window's frames that must have a face
    min_frames: int = 25  # and at least this many (1 s at 25 fps)
    # Shorter clips get no estimate: cut from AOC's standard clip, 1.6-s and 2.6-s pieces scored
    # another utterance's audio as high as their own (mean 0.19 vs 0.18, 0.15 vs 0.22, max
    # swapped 0.32 / 0.24); from 4 s on own audio wins on average by 0.09-0.13.
    min_span_s: float = 3.0
    score_scale: float = 0.30  # confidence that maps to c_norm = 1 (sync_score = 5 * sigmoid(5))


@dataclass(frozen=True)
class SyncResult:
    offset_frames: int
    confidence: float
    curve: np.ndarray  # mean canonical correlation per offset, -max_offset..max_offset


def first_canonical_correlations(x: np.ndarray, ys: np.ndarray, ridge: float) -> np.ndarray:
    """First canonical correlation of ``x`` (n, p) with each ``ys[l]`` (L, n, q), ridge added to
    the standardised covariance diagonals: (L,). Batched over the offsets because ``x`` (the
    mouth) is the same at every offset of a window, so its whitening is computed once."""
    n = len(x)
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    ys = (ys - ys.mean(1, keepdims=True)) / (ys.std(1, keepdims=True) + 1e-9)
    cxx = x.T @ x / n + ridge * np.eye(x.shape[1])
    cyy = np.einsum("lni,lnj->lij", ys, ys) / n + ridge * np.eye(ys.shape[2])
    wx = np.linalg.inv(np.linalg.cholesky(cxx))
    wy = np.linalg.inv(np.linalg.cholesky(cyy))
    cxy = np.einsum("ni,lnj->lij", x, ys) / n
    return np.linalg.svd(wx @ cxy @ np.swapaxes(wy, 1, 2), compute_uv=False)[:, 0]


def _windows(times: np.ndarray, fps: float, cfg: SyncConfig) -> list[np.ndarray]:
    """Frame masks of ``cfg.window_s`` windows at most ``cfg.hop_s`` apart, evenly spaced from the
    first frame to the end of the last, so every frame is in a window (a clip shorter than one
    window is one window)."""
    end = times[-1] + 1.0 / fps
    if end - times[0] <= cfg.window_s:
        return [np.ones(len(times), bool)]
    n = int(np.ceil((end - times[0] - cfg.window_s) / cfg.hop_s - 1e-9)) + 1
    starts = np.linspace(times[0], end - cfg.window_s, n)
    return [(times >= s - 1e-9) & (times < s + cfg.window_s - 1e-9) for s in starts]


def window_curves(mouth: np.ndarray, times: np.ndarray, audio: np.ndarray, fps: float, cfg: SyncConfig) -> np.ndarray:
    """Canonical correlation per qualifying window and offset: (windows, 2 * max_offset + 1),
    no rows where no window qualifies.

    Audio beyond the clip's ends counts as silence, so every offset is scored on the same frames:
    CCA's optimism grows as the sample shrinks, and letting frames near the ends drop out at
    large offsets only would favour those offsets on short clips.
    """
    pad = int(np.ceil((cfg.max_offset + 1) / fps * SAMPLE_RATE))
    track_t, energy = band_energy_track(np.pad(audio, pad), SYNC_BANDS_HZ, window_s=cfg.energy_window_s)
    log_energy = np.log(energy + 1e-8)
    centres = times + 0.5 / fps + pad / SAMPLE_RATE
    lags = range(-cfg.max_offset, cfg.max_offset + 1)
    feats = np.stack([sample_track(track_t, log_energy, centres + lag / fps) for lag in lags])
    valid = np.isfinite(mouth).all(1) & np.isfinite(feats).all(axis=(0, 2))
    usable = [w & valid for w in _windows(times, fps, cfg)
              if (w & valid).sum() >= max(cfg.min_frames, cfg.min_pairs * w.sum())]
    if not usable:
        return np.zeros((0, len(lags)))
    return np.stack([first_canonical_correlations(mouth[w], feats[:, w], cfg.ridge) for w in usable])


def sync_curve(mouth: np.ndarray, times: np.ndarray, audio: np.ndarray, fps: float, cfg: SyncConfig) -> np.ndarray:
    """Mean canonical correlation per offset over the windows (2 * max_offset + 1,); NaN where no
    window qualifies."""
    curves = window_curves(mouth, times, audio, fps, cfg)
    return curves.mean(0) if len(curves) else np.full(curves.shape[1], np.nan)


def estimate_sync(
    landmarks: np.ndarray,
    face_found: np.ndarray,
    frame_times: np.ndarray,
    audio: np.ndarray,
    *,
    fps: float = 25.0,
    aspect: float = 1.0,
    cfg: SyncConfig = SyncConfig(),
) -> SyncResult | None:
    """Offset and confidence, or None without audio or with under ``cfg.min_span_s`` of face frames."""
    face_times = np.asarray(frame_times)[np.asarray(face_found, bool)]
    if len(audio) == 0 or not np.any(audio) or len(face_times) < cfg.min_frames:
        return None
    if face_times[-1] - face_times[0] < cfg.min_span_s:
        return None
    mouth = mouth_features(landmarks, face_found, aspect)
    curve = sync_curve(mouth, np.asarray(frame_times, np.float64), audio, fps, cfg)
    if np.isnan(curve).all():
        return None
    best = int(np.nanargmax(curve))
    confidence = float(curve[best] - np.nanmedian(curve))
    return SyncResult(offset_frames=best - cfg.max_offset, confidence=confidence, curve=curve)


def sync_score(confidence: float, scale: float = SyncConfig.score_scale) -> float:
    """docs/method.md §6: 5 / (1 + exp(-10 (c_norm - 0.5))), c_norm = confidence / scale clipped to [0, 1]."""
    c_norm = min(max(confidence / scale, 0.0), 1.0)
    return 5.0 / (1.0 + math.exp(-10.0 * (c_norm - 0.5)))


# Fewest frame pairs for an openness/loudness correlation: 2 s at 25 fps. Below that a Spearman
# correlation of two autocorrelated series is mostly chance (its null spread with ~10
# independent syllables is about +/-0.3).
MIN_AGREEMENT_FRAMES = 50


def open_loudness_corr(
    landmarks: np.ndarray,
    face_found: np.ndarray,
    frame_times: np.ndarray,
    audio: np.ndarray,
    speech: np.ndarray,
    offset_frames: int,
    *,
    fps: float = 25.0,
    aspect: float = 1.0,
) -> float | None:
    """Spearman rank correlation of mouth-opening onsets with loudness onsets, over consecutive
    frame pairs with a face that touch speech: the rise of the inner-lip opening (mean of the
    five lip pairs / IOD) between the two frames, and the rise of the 300-3000 Hz log energy read
    ``offset_frames`` frames (of ``fps``) after them, each half-wave rectified (falls count as 0).

    Why onsets: a syllable starts with the jaw and lips opening and the voice getting louder, so
    when this is the mouth's audio the two rise together; the half-wave-rectified first
    difference of log energy is the classic onset detection function (Bello et al. 2005, "A
    tutorial on onset detection in music signals", IEEE TSAP 13(5)). It replaced the correlation
    of the opening with the loudness LEVEL, which slow trends (a louder passage, a wider mouth
    while smiling) dominate: measured own vs swapped audio over the 6 shared and 14 corpus clips
    with speech (``benchmarks/sync_agreement.py``, docs/signals.md), pooled AUC 0.918 vs 0.690
    on the 5 real recordings and 0.960 vs 0.845 on the generated clips. It does not beat
    ``sync_confidence`` on the real recordings (0.981), so read it beside the confidence.

    The offset is the sync estimator's, so the comparison is made where the two line up best;
    ranks, because the relation is monotonic, not linear. None with under
    ``MIN_AGREEMENT_FRAMES`` such pairs or a constant series (a mouth that never opens).
    """
    opening = mouth_features(landmarks, face_found, aspect)[:, 1]
    track_t, energy = band_energy_track(audio, (SPEECH_BAND_HZ,), window_s=1.0 / fps)
    centres = np.asarray(frame_times, np.float64) + (0.5 + offset_frames) / fps
    loudness = np.log(sample_track(track_t, energy, centres)[:, 0] + ENERGY_FLOOR)
    speech = np.asarray(speech, bool)
    found = np.asarray(face_found, bool)
    opening_rise = np.maximum(np.diff(opening), 0.0)
    loudness_rise = np.maximum(np.diff(loudness), 0.0)
    ok = (found[1:] & found[:-1] & (speech[1:] | speech[:-1]) & np.isfinite(opening_rise)
          & np.isfinite(loudness_rise))
    if ok.sum() < MIN_AGREEMENT_FRAMES or np.ptp(opening_rise[ok]) == 0 or np.ptp(loudness_rise[ok]) == 0:
        return None
    rho = float(np.corrcoef(average_ranks(opening_rise[ok]), average_ranks(loudness_rise[ok]))[0, 1])
    return rho if np.isfinite(rho) else None


def average_ranks(x: np.ndarray) -> np.ndarray:
    """0-based ranks, ties sharing their mean rank (scipy.stats.rankdata's "average" minus 1;
    written out because importing scipy.stats costs a worker over a second)."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts
    return (first + (counts - 1) / 2.0)[inverse]
