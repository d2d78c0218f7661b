"""Training-free signals on the shared clips: sync equivariance, swapped-audio confidence,
DNSMOS under added noise, and seconds per clip for each signal.

Every clip goes through the product path once (``run_frontend``: the dense pass the signals
read, Face Mesh, crops). Shifted variants shift the decoded 16 kHz audio array in memory by k frames
(k * 640 samples; positive k = audio delayed, zeros in front), which is what writing the shifted
audio as PCM into a Matroska file and decoding it again gives, without the re-decode.

1. Sync: for k in -10..+10 the offset estimate; the equivariance error is
   estimate(k) - k - estimate(0) (target: |error| <= 1 in >= 90 % of cases); estimate(0) is
   printed separately. Whether estimate(0) is the clip's true offset or the estimator's own bias
   cannot be told without a reference (the mouth moves before the sound it makes). The
   baseline, measured in the same run, is the simple estimator SOURCES.md describes
   (inner-lip area vs 300-3000 Hz energy, correlation over 2-s windows, median over windows).
2. Confidence and the openness/loudness agreement (``sync_open_loudness_corr``) with the
   clip's own audio vs with another utterance's audio (the other clips and the two shared
   speech files, excluding any that carry the same utterance).
3. DNSMOS OVRL of each audio clean and with white noise at 30, 10 and 0 dB SNR (target: falls
   monotonically).
4. Milliseconds per clip of each signal group (SyncNet with random weights through ONNX Runtime,
   the scoring path; the weights do not change the cost).

    python benchmarks/signals_sync.py [--skip-dnsmos] [--skip-syncnet]
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common
from tqscore.features.frontend import run_frontend
from tqscore.layout import FPS, SAMPLE_RATE
from tqscore.media import load_audio
from tqscore.signals import SIGNAL_NAMES, compute_signals
from tqscore.signals.dnsmos import Dnsmos
from tqscore.signals.dsp import SPEECH_BAND_HZ, band_energy_track, sample_track
from tqscore.signals.geometry import mouth_features
from tqscore.signals.sync import estimate_sync, open_loudness_corr

MEDIA = common.MEDIA
SHIFTS = range(-10, 11)
# Clips carrying the same utterance as a speech file (SOURCES.md): never used as each other's swap.
UTTERANCE = {
    "sadtalker_art2_radio31": "RD_Radio31_000", "sadtalker_camera_radio31": "RD_Radio31_000",
    "latentsync_demo1_out": "demo1_audio",
}


def shift_audio(audio: np.ndarray, k: int) -> np.ndarray:
    """Delay (k > 0) or advance (k < 0) by k frames at 25 fps, keeping the length."""
    n = int(round(k * SAMPLE_RATE / FPS))
    if n >= 0:
        return np.concatenate([np.zeros(n, np.float32), audio])[: len(audio)]
    return np.concatenate([audio[-n:], np.zeros(-n, np.float32)])


def baseline_offset(fe, audio: np.ndarray) -> int | None:
    """SOURCES.md's simple estimator: inner-lip area vs 300-3000 Hz log energy, Pearson r in
    2-s windows (1-s hop), median over windows, argmax over -15..+15 frames."""
    clip, sig = fe.clip, fe.signal
    times = sig.times
    area = mouth_features(sig.landmarks, sig.face_found, clip.info.width / clip.info.height)[:, 0]
    track_t, energy = band_energy_track(audio, (SPEECH_BAND_HZ,))
    lags = np.arange(-15, 16)
    curve = []
    for lag in lags:
        a = np.log(sample_track(track_t, energy, times + (0.5 + lag) / FPS)[:, 0] + 1e-8)
        rs = []
        for s in np.arange(times[0], max(times[0] + 1e-9, times[-1] - 2.0 + 1e-9), 1.0):
            w = (times >= s) & (times < s + 2.0) & np.isfinite(a) & np.isfinite(area)
            if w.sum() >= 10 and a[w].std() > 0 and area[w].std() > 0:
                rs.append(np.corrcoef(area[w], a[w])[0, 1])
        curve.append(np.median(rs) if rs else np.nan)
    curve = np.asarray(curve)
    return None if np.isnan(curve).all() else int(lags[np.nanargmax(curve)])


def new_offset(fe, audio: np.ndarray):
    """The product's estimator on the dense pass (what compute_signals reads)."""
    sig = fe.signal
    return estimate_sync(sig.landmarks, sig.face_found, sig.times, audio, fps=FPS,
                         aspect=fe.clip.info.width / fe.clip.info.height)


def agreement(fe, audio: np.ndarray, vad) -> tuple[float | None, float | None]:
    """(sync_confidence, sync_open_loudness_corr) of ``audio`` on the clip's dense frames, the
    speech mask from the VAD on that audio, as compute_signals makes them."""
    from tqscore.signals.vad import frame_mask

    sig = fe.signal
    result = new_offset(fe, audio)
    if result is None:
        return None, None
    speech = frame_mask(vad.segments(audio), sig.times, sig.fps)
    corr = open_loudness_corr(sig.landmarks, sig.face_found, sig.times, audio, speech, result.offset_frames,
                              fps=FPS, aspect=fe.clip.info.width / fe.clip.info.height)
    return result.confidence, corr


def equivariance(name: str, estimates: dict[int, int | None]) -> list[int | None]:
    e0 = estimates[0]
    return [None if estimates[k] is None or e0 is None else estimates[k] - k - e0 for k in SHIFTS]


def print_sync_tables(results: dict[str, dict[str, dict[int, int | None]]]) -> None:
    header = "clip".ljust(26) + " ".join(f"{k:+4d}" for k in SHIFTS)
    for estimator in ("baseline", "cca"):
        print(f"\n## Offset estimates, {estimator} (rows: clip; columns: audio shift k in frames)\n")
        print(header)
        total = ok = 0
        for name, per in results.items():
            est = per[estimator]
            print(name[:25].ljust(26) + " ".join(f"{'--' if est[k] is None else est[k]:>4}" for k in SHIFTS))
        print(f"\nequivariance error estimate(k) - k - estimate(0), {estimator}:\n")
        print(header + "   ok   e(0)")
        for name, per in results.items():
            errs = equivariance(name, per[estimator])
            good = sum(1 for e in errs if e is not None and abs(e) <= 1)
            total += len(errs)
            ok += good
            cells = " ".join(f"{'--' if e is None else e:>4}" for e in errs)
            print(name[:25].ljust(26) + cells + f"  {good:2d}/{len(errs)}  {per[estimator][0]}")
        print(f"\n{estimator}: |error| <= 1 in {ok}/{total} = {100 * ok / total:.1f} % of cases")


def swap_sources(frontends: dict) -> dict[str, np.ndarray]:
    sources = {name: fe.clip.audio for name, fe in frontends.items()}
    for wav in sorted((MEDIA / "audio").glob("*.wav")):
        sources[wav.stem] = load_audio(wav)[0]
    return sources


def swapped_confidence(frontends: dict) -> None:
    """Own audio vs every other utterance's: the CCA confidence (own / max swapped) and the
    openness/loudness rank correlation (own, max swapped, and own - max swapped)."""
    from tqscore.signals.vad import SileroVad

    vad = SileroVad()
    sources = swap_sources(frontends)
    print("\n## Own audio vs another utterance's audio\n")
    print("| clip | confidence own | max swapped | own / max | open-loudness corr own | max swapped | "
          "mean swapped | own - max | audios |")
    print("|---|---|---|---|---|---|---|---|---|")
    wins = {"confidence": 0, "corr": 0}
    for name, fe in frontends.items():
        own_c, own_r = agreement(fe, fe.clip.audio, vad)
        utterance = UTTERANCE.get(name, name)
        conf, corr = [], []
        for other, audio in sources.items():
            if other == name or UTTERANCE.get(other, other) == utterance:
                continue
            c, r = agreement(fe, np.resize(audio, len(fe.clip.audio)).astype(np.float32), vad)
            conf.append(np.nan if c is None else c)
            corr.append(np.nan if r is None else r)
        max_c, max_r = np.nanmax(conf), np.nanmax(corr)
        wins["confidence"] += own_c is not None and own_c > max_c
        wins["corr"] += own_r is not None and own_r > max_r
        print(f"| {name} | {_f(own_c)} | {max_c:.3f} | {_f(own_c and own_c / max_c, 2)} | {_f(own_r)} | "
              f"{max_r:.3f} | {np.nanmean(corr):.3f} | {_f(own_r and own_r - max_r)} | {len(conf)} |")
    print(f"\nown > every swapped audio: confidence {wins['confidence']}/{len(frontends)}, "
          f"openness/loudness {wins['corr']}/{len(frontends)} clips")


def _f(value, digits: int = 3) -> str:
    return "null" if value is None else f"{value:.{digits}f}"


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    power = float(np.mean(audio.astype(np.float64) ** 2))
    noise = rng.standard_normal(len(audio)) * np.sqrt(power / 10 ** (snr_db / 10))
    return (audio + noise).astype(np.float32)


def dnsmos_noise(sources: dict[str, np.ndarray], dnsmos: Dnsmos) -> None:
    print("\n## DNSMOS OVRL (SIG/BAK) clean and with white noise\n")
    print(f"{'audio':26s} {'clean':>15s} {'30 dB':>15s} {'10 dB':>15s} {'0 dB':>15s}  monotonic")
    passed = 0
    for name, audio in sources.items():
        rng = np.random.default_rng(0)
        cells, ovrl = [], []
        for snr in (None, 30, 10, 0):
            scores = dnsmos(audio if snr is None else add_noise(audio, snr, rng))
            ovrl.append(scores["dnsmos_ovrl"])
            cells.append(f"{scores['dnsmos_ovrl']:.2f} ({scores['dnsmos_sig']:.2f}/{scores['dnsmos_bak']:.2f})")
        mono = all(a > b for a, b in zip(ovrl, ovrl[1:]))
        passed += mono
        print(f"{name[:25]:26s} " + " ".join(f"{c:>15s}" for c in cells) + f"  {'yes' if mono else 'NO'}")
    print(f"\nOVRL falls monotonically on {passed}/{len(sources)} audios")


def random_syncnet(folder: Path):
    import torch
    from safetensors.torch import save_file

    from tqscore.signals.export_syncnet import convert
    from tqscore.signals.syncnet import SyncNetScorer
    from tqscore.signals.syncnet_model import SyncNet

    torch.manual_seed(0)
    save_file(SyncNet().state_dict(), str(folder / "random.safetensors"))
    convert(folder / "random.safetensors", folder / "random.onnx")
    return SyncNetScorer.load(folder / "random.onnx", threads=1)


def timings_and_values(frontends: dict, dnsmos, syncnet, frontend_s: dict[str, float]) -> None:
    from tqscore.signals.vad import SileroVad

    vad = SileroVad()
    print("\n## Seconds per clip (this machine; frontend = decode + Face Mesh + crops, for scale)\n")
    groups = ("vad", "face", "sync", "head", "expression", "dnsmos", "syncnet")
    print(f"{'clip':26s} {'dur s':>6s} {'frontend':>9s} " + " ".join(f"{g:>8s}" for g in groups))
    rows, values = [], {}
    for name, fe in frontends.items():
        ms: dict[str, float] = {}
        values[name] = compute_signals(fe, dnsmos=dnsmos, syncnet=syncnet, vad=vad, timings_ms=ms)
        rows.append([ms.get(g, np.nan) / 1000 for g in groups])
        print(f"{name[:25]:26s} {fe.clip.info.duration_s:6.2f} {frontend_s[name]:9.2f} "
              + " ".join(f"{v:8.3f}" for v in rows[-1]))
    print(f"{'mean':26s} {'':6s} {np.mean(list(frontend_s.values())):9.2f} "
          + " ".join(f"{v:8.3f}" for v in np.nanmean(rows, axis=0)))
    print("\n## Signal values on the shared clips (syncnet_* from RANDOM weights: timing only, meaningless)\n")
    names = list(values)
    print("| column | " + " | ".join(n[:22] for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for col in SIGNAL_NAMES:
        cells = [values[n][col] for n in names]
        print(f"| `{col}` | " + " | ".join("null" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
                                          for v in cells) + " |")


def main() -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--skip-dnsmos", action="store_true")
    parser.add_argument("--skip-syncnet", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    frontends, frontend_s = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        # --smoke: common.smoke_clip, every table in a fraction of the time
        for path in [common.smoke_clip(Path(tmp))] if args.smoke else common.media_clips():
            tick = time.perf_counter()
            frontends[path.stem] = run_frontend(path)
            frontend_s[path.stem] = time.perf_counter() - tick

    results, spent = {}, {"baseline": 0.0, "cca": 0.0}
    for name, fe in frontends.items():
        per = {"baseline": {}, "cca": {}}
        for k in SHIFTS:
            audio = shift_audio(fe.clip.audio, k)
            tick = time.perf_counter()
            per["baseline"][k] = baseline_offset(fe, audio)
            spent["baseline"] += time.perf_counter() - tick
            tick = time.perf_counter()
            result = new_offset(fe, audio)
            spent["cca"] += time.perf_counter() - tick
            per["cca"][k] = None if result is None else result.offset_frames
        results[name] = per
    print_sync_tables(results)
    calls = len(results) * len(SHIFTS)
    print(f"\nestimator time per clip: baseline {1000 * spent['baseline'] / calls:.0f} ms, "
          f"cca {1000 * spent['cca'] / calls:.0f} ms (ratio {spent['cca'] / spent['baseline']:.2f})")
    swapped_confidence(frontends)

    dnsmos = None if args.skip_dnsmos else Dnsmos()
    if dnsmos is not None:
        # --smoke: the clip's own audio only; the two speech files (26 s) would be most of its time
        own = {name: fe.clip.audio for name, fe in frontends.items()}
        dnsmos_noise(own if args.smoke else swap_sources(frontends), dnsmos)
    with tempfile.TemporaryDirectory() as tmp:
        syncnet = None if args.skip_syncnet else random_syncnet(Path(tmp))
        timings_and_values(frontends, dnsmos, syncnet, frontend_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
