"""Which "does the mouth follow this voice" measure separates a clip's own audio from another
utterance's best: own vs swapped audio on ../shared/media and ../shared/corpus.

Every clip with speech (Silero VAD on >= 20 % of its dense frames) is scored with its own audio
and with every other clip's and speech file's audio (tiled to the clip's length; clips carrying
the same utterance are never each other's swap, and swapped audio without speech is skipped).
Each audio gets its own sync offset, as compute_signals does. Measures:

- ``confidence``: ``sync_confidence`` (CCA curve peak minus median over offsets; 3-s windows
  at most 0.5 s apart over the whole clip);
- ``former``: the same with 4-s windows every 1 s from the first frame (up to the last second
  unread), the baseline of this run;
- ``levels``: Spearman of the inner-lip opening with the 300-3000 Hz log energy at the offset
  on speech frames (the levels alternative to ``onsets``);
- ``onsets``: ``sync_open_loudness_corr``: Spearman of the half-wave-rectified rises of
  both, on frame pairs touching speech;
- ``onsets_signed``: Pearson of the unrectified rises (same pairs);
- ``window_t``: per 4-s window, the CCA at the clip's best offset minus that window's median
  over offsets >= 5 frames away; mean over windows / its standard error (windows overlap 4x,
  so n / 4 independent ones).

Printed: per clip own / max swapped; per measure, clips where own beats every swapped audio and
the AUC of own vs swapped (pooled over clips), for the real and the generated clips apart (on
real recordings own audio is known to be in sync; a generated clip's own audio may not be).

``--cuts``: instead, 5-s cuts of every real clip with speech, one every second, each made
worse in memory as ``tqscore.testing.degradations`` makes ``foreign_audio`` (the first 1/3, 2/3, all
of the audio replaced by each shared speech file at the cut's active speech level, 20-ms
crossfade) and ``audio_shift`` (3, 6, 10 frames late, zeros in front). Per clip: the share of
severity steps in which ``confidence`` / ``former`` fell (foreign) and the offset rose (shift),
and the AUC of the cuts' own audio against the fully foreign copies.

``--partial``: instead, every whole real clip with at least ``MIN_CONFIDENCE_SPEECH_S`` of
speech, its first 1/3, 2/3, all of the audio replaced (as ``foreign_audio``) by each other such
clip's audio and each shared speech file in turn: more foreign utterances than the degradation
benchmark's one, so a step share is not one draw. Per clip, the share of steps in which the
confidence fell, read three ways: ``confidence`` (the shipped peak over +/-15 frames);
``at_clean_offset``, the curve at the clean copy's own offset (an oracle: the scorer cannot
know it); ``in_bt1359``, the peak over -2..+4 frames only (ITU-R BT.1359-1's acceptability,
90 ms early to 185 ms late). Shows how much of a miss is the offset search picking a chance
peak and how much is the evidence itself.

    python benchmarks/sync_agreement.py [--smoke] [--cuts | --partial]
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace

import common
import numpy as np
from signals_sync import UTTERANCE

from tqscore.features.frontend import run_frontend
from tqscore.layout import FPS, SAMPLE_RATE
from tqscore.media import load_audio
from tqscore.model.reference import MIN_CONFIDENCE_SPEECH_S
from tqscore.signals.dsp import (
    ENERGY_FLOOR,
    SPEECH_BAND_HZ,
    SYNC_BANDS_HZ,
    band_energy_track,
    sample_track,
)
from tqscore.signals.geometry import mouth_features
from tqscore.signals.sync import (
    SyncConfig,
    average_ranks,
    first_canonical_correlations,
    open_loudness_corr,
)
from tqscore.signals.sync import window_curves as sync_window_curves
from tqscore.signals.vad import SileroVad, frame_mask, speech_seconds
from tqscore.testing.degradations import CROSSFADE_S, FRAME_S, SHARED_AUDIO, active_speech_power, read_wav

CFG = SyncConfig()
FORMER_WINDOW_S, FORMER_HOP_S = 4.0, 1.0
MEASURES = ("confidence", "former", "levels", "onsets", "onsets_signed", "window_t")
MIN_SPEECH = 0.2
CUT_S = 5.0
FOREIGN_SHARES = (1 / 3, 2 / 3, 1.0)
SHIFTS = (3, 6, 10)
BT1359_ACCEPTABLE = (-2, 4)  # frames: 90 ms early .. 185 ms late, rounded inwards to 40-ms frames


def former_window_curves(mouth, times, audio) -> np.ndarray:
    """sync.window_curves with the former windows: 4 s every 1 s from the first frame."""
    cfg = replace(CFG, window_s=FORMER_WINDOW_S, hop_s=FORMER_HOP_S)
    pad = int(np.ceil((cfg.max_offset + 1) / FPS * SAMPLE_RATE))
    track_t, energy = band_energy_track(np.pad(audio, pad), SYNC_BANDS_HZ, window_s=cfg.energy_window_s)
    log_energy = np.log(energy + 1e-8)
    centres = times + 0.5 / FPS + pad / SAMPLE_RATE
    feats = np.stack([sample_track(track_t, log_energy, centres + lag / FPS)
                      for lag in range(-cfg.max_offset, cfg.max_offset + 1)])
    valid = np.isfinite(mouth).all(1) & np.isfinite(feats).all(axis=(0, 2))
    if times[-1] - times[0] < cfg.window_s:
        masks = [np.ones(len(times), bool)]
    else:
        starts = np.arange(times[0], times[-1] - cfg.window_s + 1e-9, cfg.hop_s)
        masks = [(times >= t) & (times < t + cfg.window_s) for t in starts]
    usable = [w & valid for w in masks if (w & valid).sum() >= max(cfg.min_frames, cfg.min_pairs * w.sum())]
    if not usable:
        return np.zeros((0, 2 * cfg.max_offset + 1))
    return np.stack([first_canonical_correlations(mouth[w], feats[:, w], cfg.ridge) for w in usable])


def peak_offset(curves: np.ndarray) -> tuple[int, float]:
    """Offset (frames) and peak-minus-median confidence of the mean curve, as estimate_sync."""
    if not len(curves):
        return 0, float("nan")
    curve = curves.mean(0)
    best = int(np.argmax(curve))
    return best - CFG.max_offset, float(curve[best] - np.median(curve))


def usable_clip(found, times, audio) -> bool:
    face_t = times[found]
    return len(face_t) >= CFG.min_frames and face_t[-1] - face_t[0] >= CFG.min_span_s and bool(np.any(audio))


def measures(sig, aspect: float, audio: np.ndarray, vad) -> dict | None:
    lm, found, times = sig.landmarks, sig.face_found, sig.times
    if not usable_clip(found, times, audio):
        return None
    speech = frame_mask(vad.segments(audio), times, FPS)
    if speech.mean() < MIN_SPEECH:
        return None
    mouth = mouth_features(lm, found, aspect)
    curves = sync_window_curves(mouth, times, audio, FPS, CFG)
    if not len(curves):
        return None
    curve = curves.mean(0)
    best = int(np.argmax(curve))
    lags = np.arange(-CFG.max_offset, CFG.max_offset + 1)
    out = dict.fromkeys(MEASURES, np.nan)
    out["confidence"] = float(curve[best] - np.median(curve))
    out["former"] = peak_offset(former_window_curves(mouth, times, audio))[1]
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


def foreign(audio: np.ndarray, share: float, other: np.ndarray) -> np.ndarray:
    """tqscore.testing.degradations.foreign_audio on a 16 kHz array: the first ``share`` replaced by
    ``other`` at the audio's active speech level, 20-ms crossfade."""
    n, cut = len(audio), round(share * len(audio))
    gain = np.sqrt(active_speech_power(audio, SAMPLE_RATE) / (active_speech_power(other, SAMPLE_RATE) + 1e-12))
    weight = np.zeros(n, np.float32)
    weight[:cut] = 1.0
    fade = min(round(CROSSFADE_S * SAMPLE_RATE), cut, n - cut)
    if fade > 0:
        weight[cut - fade // 2 : cut - fade // 2 + fade] = np.linspace(1.0, 0.0, fade)
    return (weight * np.resize(other * gain, n) + (1 - weight) * audio).astype(np.float32)


def delayed(audio: np.ndarray, frames: int) -> np.ndarray:
    """tqscore.testing.degradations.audio_shift on a 16 kHz array: ``frames`` x 40 ms late, zeros in front."""
    k = round(frames * FRAME_S * SAMPLE_RATE)
    return np.concatenate([np.zeros(k, np.float32), audio[: len(audio) - k]])


def cuts_report(frontends: dict, vad) -> None:
    others = {w.stem: read_wav(w) for w in sorted(SHARED_AUDIO.glob("*.wav"))}
    estimators = {"confidence": lambda m, t, a: peak_offset(sync_window_curves(m, t, a, FPS, CFG)),
                  "former": lambda m, t, a: peak_offset(former_window_curves(m, t, a))}
    print(f"\n5-s cuts every 1 s of the real clips; foreign audio {', '.join(others)}; "
          "step shares: confidence fell (foreign) / offset rose (shift)\n")
    print("| clip | cuts | " + " | ".join(f"{e}: foreign steps, shift steps, AUC own vs all-foreign, offsets at k=0"
                                          for e in estimators) + " |")
    print("|---|---|" + "---|" * len(estimators))
    per_clip = {e: [] for e in estimators}
    for name, (fe, kind) in frontends.items():
        if kind != "real":
            continue
        sig, aspect = fe.signal, fe.clip.info.width / fe.clip.info.height
        mouth_all = mouth_features(sig.landmarks, sig.face_found, aspect)
        tally = {e: {"foreign": [], "shift": [], "own": [], "alien": [], "offset0": []} for e in estimators}
        n_cuts = 0
        for start in np.arange(0.0, sig.times[-1] + 1.0 / FPS - CUT_S + 1e-6, 1.0):
            keep = (sig.times >= start - 1e-6) & (sig.times < start + CUT_S - 1e-6)
            times = sig.times[keep] - start
            audio = fe.clip.audio[round(start * SAMPLE_RATE): round((start + CUT_S) * SAMPLE_RATE)]
            if not usable_clip(sig.face_found[keep], times, audio) or not len(vad.segments(audio)):
                continue
            n_cuts += 1
            mouth = mouth_all[keep]
            for e, estimate in estimators.items():
                t = tally[e]
                offset0, own = estimate(mouth, times, audio)
                t["own"].append(own)
                t["offset0"].append(offset0)
                for other_name, other in others.items():
                    if UTTERANCE.get(name, name) == other_name:
                        continue
                    series = [own] + [estimate(mouth, times, foreign(audio, f, other))[1] for f in FOREIGN_SHARES]
                    t["foreign"] += [b < a for a, b in itertools.pairwise(series)]
                    t["alien"].append(series[-1])
                offsets = [offset0] + [estimate(mouth, times, delayed(audio, k))[0] for k in SHIFTS]
                t["shift"] += [b > a for a, b in itertools.pairwise(offsets)]
        if not n_cuts:
            continue
        cells = []
        for e, t in tally.items():
            shares = (np.mean(t["foreign"]), np.mean(t["shift"]), auc(t["own"], t["alien"]))
            per_clip[e].append(shares)
            cells.append(f"{100 * shares[0]:.0f} %, {100 * shares[1]:.0f} %, {shares[2]:.2f}, "
                         f"{' '.join(f'{o:+d}' for o in t['offset0'])}")
        print(f"| {name[:32]} | {n_cuts} | " + " | ".join(cells) + " |")
    for e, rows in per_clip.items():
        r = np.asarray(rows)
        print(f"  {e:10s} foreign steps mean {100 * r[:, 0].mean():.0f} % (worst clip {100 * r[:, 0].min():.0f} %), "
              f"shift steps mean {100 * r[:, 1].mean():.0f} % (worst {100 * r[:, 1].min():.0f} %), "
              f"AUC own vs all-foreign mean {r[:, 2].mean():.3f} (worst {r[:, 2].min():.3f})")


def partial_report(frontends: dict, vad) -> None:
    speaking = {name: fe for name, (fe, kind) in frontends.items()
                if kind == "real" and speech_seconds(vad.segments(fe.clip.audio)) >= MIN_CONFIDENCE_SPEECH_S}
    others = {name: fe.clip.audio for name, fe in speaking.items()}
    others.update({w.stem: read_wav(w) for w in sorted(SHARED_AUDIO.glob("*.wav"))})
    lo, hi = (CFG.max_offset + k for k in BT1359_ACCEPTABLE)
    readings = ("confidence", "at_clean_offset", "in_bt1359")
    print(f"\nWhole real clips with >= {MIN_CONFIDENCE_SPEECH_S:g} s of speech; the first 1/3, 2/3, all of the audio "
          "replaced by each other utterance; share of steps in which the reading fell\n")
    print("| clip | foreign utterances | " + " | ".join(readings) + " |")
    print("|---|---|" + "---|" * len(readings))
    worst = dict.fromkeys(readings, 1.0)
    pooled = {r: [] for r in readings}
    for name, fe in speaking.items():
        sig, aspect = fe.signal, fe.clip.info.width / fe.clip.info.height
        mouth = mouth_features(sig.landmarks, sig.face_found, aspect)

        def curve(audio):
            return sync_window_curves(mouth, sig.times, audio, FPS, CFG).mean(0)

        clean = curve(fe.clip.audio)
        own_offset = int(np.argmax(clean))
        steps = {r: [] for r in readings}
        used = [o for o in others if o != name and UTTERANCE.get(o, o) != UTTERANCE.get(name, name)]
        for other in used:
            series = {r: [] for r in readings}
            for c in [clean] + [curve(foreign(fe.clip.audio, f, others[other])) for f in FOREIGN_SHARES]:
                median = np.median(c)
                series["confidence"].append(c.max() - median)
                series["at_clean_offset"].append(c[own_offset] - median)
                series["in_bt1359"].append(c[lo: hi + 1].max() - median)
            for r in readings:
                steps[r] += [b < a for a, b in itertools.pairwise(series[r])]
        cells = []
        for r in readings:
            share = float(np.mean(steps[r]))
            worst[r] = min(worst[r], share)
            pooled[r] += steps[r]
            cells.append(f"{100 * share:.0f} %")
        print(f"| {name[:32]} | {len(used)} | " + " | ".join(cells) + " |")
    print("| all (worst clip) | | " + " | ".join(f"{100 * np.mean(pooled[r]):.0f} % ({100 * worst[r]:.0f} %)"
                                                 for r in readings) + " |")


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("--cuts", action="store_true", help="5-s cuts of the real clips, foreign audio and shifts")
    p.add_argument("--partial", action="store_true", help="whole real clips, partly foreign audio from every other utterance")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    clips = common.media_clips() + sorted((common.CORPUS / "real").glob("*")) + sorted((common.CORPUS / "generated").glob("*"))
    if args.smoke:
        clips = [common.MEDIA / "generated" / "sadtalker_camera_radio31.mp4", common.MEDIA / "real" / "WDA_KatieHill_000.mp4"]
    print("machine:", common.machine())
    vad = SileroVad()
    if args.cuts or args.partial:
        clips = [c for c in clips if c.parent.name == "real"][: 1 if args.smoke else None]
    frontends = {c.stem: (run_frontend(c, observers=[]), "real" if c.parent.name == "real" else "generated") for c in clips}
    if args.cuts:
        cuts_report(frontends, vad)
        return 0
    if args.partial:
        partial_report(frontends, vad)
        return 0
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
