"""Which "does the mouth follow this voice" measure separates a clip's own audio from another
utterance's best: own vs swapped audio on ../shared/media and ../shared/corpus.

Every clip with speech (Silero VAD on >= 20 % of its dense frames) is scored with its own audio
and with every other clip's and speech file's audio (tiled to the clip's length; clips carrying
the same utterance are never each other's swap, and swapped audio without speech is skipped).
Each audio gets its own sync offset, as compute_signals does. Measures:

- ``confidence``: ``sync_confidence`` (CCA curve peak minus median over offsets);
- ``levels``: Spearman of the inner-lip opening with the 300-3000 Hz log energy at the offset
  on speech frames (``sync_open_loudness_corr`` until 2026-12-01);
- ``onsets``: ``sync_open_loudness_corr`` now: Spearman of the half-wave-rectified rises of
  both, on frame pairs touching speech;
- ``onsets_signed``: Pearson of the unrectified rises (same pairs);
- ``window_t``: per 4-s window, the CCA at the clip's best offset minus that window's median
  over offsets >= 5 frames away; mean over windows / its standard error (windows overlap 4x,
  so n / 4 independent ones).

Printed: per clip own / max swapped; per measure, clips where own beats every swapped audio and
the AUC of own vs swapped (pooled over clips), for the real and the generated clips apart (on
real recordings own audio is known to be in sync; a generated clip's own audio may not be).

    python benchmarks/sync_agreement.py [--smoke]
"""

from __future__ import annotations

import logging

import numpy as np

import common
from tqscore.features.frontend import run_frontend
from tqscore.layout import FPS, SAMPLE_RATE
from tqscore.media import load_audio
from tqscore.signals.dsp import ENERGY_FLOOR, SPEECH_BAND_HZ, SYNC_BANDS_HZ, band_energy_track, sample_track
from tqscore.signals.geometry import mouth_features
from tqscore.signals.sync import (SyncConfig, _windows, average_ranks, first_canonical_correlations,
                                  open_loudness_corr)
from tqscore.signals.vad import SileroVad, frame_mask

from signals_sync import UTTERANCE

CFG = SyncConfig()
MEASURES = ("confidence", "levels", "onsets", "onsets_signed", "window_t")
MIN_SPEECH = 0.2


def window_curves(mouth, times, audio) -> np.ndarray | None:
    """(windows, offsets) canonical correlations, as sync.sync_curve before its mean."""
    pad = int(np.ceil((CFG.max_offset + 1) / FPS * SAMPLE_RATE))
    track_t, energy = band_energy_track(np.pad(audio, pad), SYNC_BANDS_HZ, window_s=CFG.energy_window_s)
    log_energy = np.log(energy + 1e-8)
    centres = times + 0.5 / FPS + pad / SAMPLE_RATE
    feats = np.stack([sample_track(track_t, log_energy, centres + lag / FPS)
                      for lag in range(-CFG.max_offset, CFG.max_offset + 1)])
    valid = np.isfinite(mouth).all(1) & np.isfinite(feats).all(axis=(0, 2))
    usable = [w & valid for w in _windows(times, CFG)
              if (w & valid).sum() >= max(CFG.min_frames, CFG.min_pairs * w.sum())]
    return np.stack([first_canonical_correlations(mouth[w], feats[:, w], CFG.ridge) for w in usable]) if usable else None


def measures(sig, aspect: float, audio: np.ndarray, vad) -> dict | None:
    lm, found, times = sig.landmarks, sig.face_found, sig.times
    face_t = times[found]
    if len(face_t) < CFG.min_frames or face_t[-1] - face_t[0] < CFG.min_span_s or not np.any(audio):
        return None
    speech = frame_mask(vad.segments(audio), times, FPS)
    if speech.mean() < MIN_SPEECH:
        return None
    mouth = mouth_features(lm, found, aspect)
    curves = window_curves(mouth, times, audio)
    if curves is None:
        return None
    curve = curves.mean(0)
    best = int(np.argmax(curve))
    lags = np.arange(-CFG.max_offset, CFG.max_offset + 1)
    out = dict.fromkeys(MEASURES, np.nan)
    out["confidence"] = float(curve[best] - np.median(curve))
    far = np.abs(lags - lags[best]) >= 5
    advantage = curves[:, best] - np.median(curves[:, far], axis=1)
    if len(advantage) > 1:
        out["window_t"] = float(advantage.mean() / (advantage.std() / np.sqrt(max(len(advantage) / 4, 1)) + 1e-9))
    onsets = open_loudness_corr(lm, found, times, audio, speech, int(lags[best]), fps=FPS, aspect=aspect)
    out["onsets"] = np.nan if onsets is None else onsets
    opening = mouth[:, 1]
    track_t, energy = band_energy_track(audio, (SPEECH_BAND_HZ,), window_s=1.0 / FPS)
    loudness = np.log(sample_track(track_t, energy, times + (0.5 + lags[best]) / FPS)[:, 0] + ENERGY_FLOOR)
    level_ok = speech & np.isfinite(opening) & np.isfinite(loudness)
    if level_ok.sum() >= 50:
        out["levels"] = float(np.corrcoef(average_ranks(opening[level_ok]), average_ranks(loudness[level_ok]))[0, 1])
    rise_o, rise_l = np.diff(opening), np.diff(loudness)
    pair_ok = found[1:] & found[:-1] & (speech[1:] | speech[:-1]) & np.isfinite(rise_o) & np.isfinite(rise_l)
    if pair_ok.sum() >= 50:
        out["onsets_signed"] = float(np.corrcoef(rise_o[pair_ok], rise_l[pair_ok])[0, 1])
    return out


def auc(pos, neg) -> float:
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    if not len(pos) or not len(neg):
        return float("nan")
    return float(((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg)))


def main() -> int:
    args = common.parser(__doc__).parse_args()
    logging.basicConfig(level=logging.WARNING)
    clips = common.media_clips() + sorted((common.CORPUS / "real").glob("*")) + sorted((common.CORPUS / "generated").glob("*"))
    if args.smoke:
        clips = [common.MEDIA / "generated" / "sadtalker_camera_radio31.mp4", common.MEDIA / "real" / "WDA_KatieHill_000.mp4"]
    print("machine:", common.machine())
    vad = SileroVad()
    frontends = {p.stem: (run_frontend(p, observers=[]), "real" if p.parent.name == "real" else "generated") for p in clips}
    sources = {name: fe.clip.audio for name, (fe, _) in frontends.items()}
    for wav in sorted((common.MEDIA / "audio").glob("*.wav")):
        sources[wav.stem] = load_audio(wav)[0]
    results = {}
    for name, (fe, kind) in frontends.items():
        aspect = fe.clip.info.width / fe.clip.info.height
        own = measures(fe.signal, aspect, fe.clip.audio, vad)
        if own is None:
            continue
        swapped = []
        for other, audio in sources.items():
            if other == name or UTTERANCE.get(other, other) == UTTERANCE.get(name, name):
                continue
            m = measures(fe.signal, aspect, np.resize(audio, len(fe.clip.audio)).astype(np.float32), vad)
            if m is not None:
                swapped.append(m)
        if swapped:
            results[name] = (own, swapped, kind)
    print("\n| clip | swapped audios | " + " | ".join(f"{m} own / max swapped" for m in MEASURES) + " |")
    print("|---|---|" + "---|" * len(MEASURES))
    for name, (own, swapped, kind) in results.items():
        cells = []
        for m in MEASURES:
            top = np.nanmax([s[m] for s in swapped]) if any(np.isfinite(s[m]) for s in swapped) else np.nan
            cells.append(f"{own[m]:.3f} / {top:.3f}" + (" win" if own[m] > top else ""))
        print(f"| {kind}: {name[:32]} | {len(swapped)} | " + " | ".join(cells) + " |")
    for kind in ("real", "generated"):
        names = [n for n, r in results.items() if r[2] == kind]
        if not names:
            continue
        print(f"\n{kind} ({len(names)} clips):")
        for m in MEASURES:
            wins = sum(results[n][0][m] > np.nanmax([s[m] for s in results[n][1]] + [-np.inf]) for n in names)
            pooled = auc([results[n][0][m] for n in names], [s[m] for n in names for s in results[n][1]])
            print(f"  {m:14s} own > every swapped {wins}/{len(names)}, AUC own vs swapped {pooled:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
