"""Audio features the signals share: band energies at frame times, a speech detector, MFCC and
the mel spectrogram of DNSMOS P.808.

NumPy/SciPy only. The two reference front ends are re-implemented instead of depending on
their packages: ``mfcc`` follows python_speech_features (what syncnet_python feeds SyncNet)
and ``melspectrogram_db`` follows librosa as Microsoft's ``dnsmos_local.py`` calls it; librosa
alone would bring numba and llvmlite into the serving image. Both are tested against the
reference package where it is installed.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.fft import dct

from tqscore.layout import SAMPLE_RATE

# Bands for the mouth/audio correlation: F1 (jaw opening) through fricatives.
SYNC_BANDS_HZ: tuple[tuple[float, float], ...] = (
    (100, 300), (300, 800), (800, 1500), (1500, 2500), (2500, 4000), (4000, 7000),
)
SPEECH_BAND_HZ = (300.0, 3000.0)
ENERGY_FLOOR = 1e-10  # mean-square power of near-silence in [-1, 1] audio (-100 dBFS)


def _frames(x: np.ndarray, length: int, step: int) -> np.ndarray:
    n = 1 + max(0, (len(x) - length) // step)
    return np.lib.stride_tricks.sliding_window_view(x, length)[::step][:n]


def band_energy_track(audio: np.ndarray, bands, window_s: float = 0.04, hop_s: float = 0.005):
    """Mean-square power per band on a regular grid: (times (m,), energies (m, n_bands)).

    Hann-windowed frames of ``window_s`` centred at ``times``; zero phase, so a feature at time t
    describes the sound around t and not a filter's delayed echo of it.
    """
    win, hop = int(round(window_s * SAMPLE_RATE)), int(round(hop_s * SAMPLE_RATE))
    padded = np.pad(np.asarray(audio, np.float32), win // 2)
    window = np.hanning(win).astype(np.float32)
    frames = _frames(padded, win, hop) * window
    # Parseval on a one-sided spectrum: mean-square power of the band under the window.
    power = 2.0 * np.abs(np.fft.rfft(frames, axis=1)) ** 2 / (win * np.sum(window**2))
    freqs = np.fft.rfftfreq(win, 1 / SAMPLE_RATE)
    energies = np.stack([power[:, (freqs >= lo) & (freqs < hi)].sum(1) for lo, hi in bands], 1)
    times = np.arange(len(frames)) * hop / SAMPLE_RATE
    return times, energies


def sample_track(track_times: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``values`` (m, k) linearly interpolated at ``times``; NaN outside the track."""
    return np.stack([np.interp(times, track_times, v, left=np.nan, right=np.nan) for v in values.T], -1)


def speech_frames(audio: np.ndarray, times: np.ndarray, fps: float) -> np.ndarray:
    """Boolean (n,) speech mask at frame times from 300-3000 Hz energy.

    A frame is speech when its band level is within 30 dB of the clip's loud speech (95th
    percentile) and above -55 dBFS: a level detector, enough to tell talking from pauses in
    talking-head clips, not a general voice-activity detector.
    """
    if len(audio) == 0 or len(times) == 0:
        return np.zeros(len(times), bool)
    track_t, energy = band_energy_track(audio, (SPEECH_BAND_HZ,), window_s=1.0 / fps)
    level = 10 * np.log10(sample_track(track_t, energy, times + 0.5 / fps)[:, 0] + ENERGY_FLOOR)
    level = np.nan_to_num(level, nan=-200.0)
    loud = np.percentile(level, 95)
    return (level > loud - 30.0) & (level > -55.0)


def _hz_to_mel_htk(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, float) / 700.0)


def _mel_to_hz_htk(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, float) / 2595.0) - 1.0)


def mfcc(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, numcep: int = 13) -> np.ndarray:
    """python_speech_features.mfcc with its defaults: (n_frames, 13), 25 ms windows every 10 ms.

    Expects the int16 sample scale that syncnet_python reads with ``wavfile.read``; the scale
    changes the log energies (coefficient 0) that SyncNet was trained on.
    """
    winlen, winstep, nfilt, preemph, lifter = 0.025, 0.01, 26, 0.97, 22
    x = np.asarray(audio, np.float64)
    frame_len, frame_step = int(round(winlen * sample_rate)), int(round(winstep * sample_rate))
    nfft = 1 << int(np.ceil(np.log2(winlen * sample_rate)))
    x = np.append(x[0], x[1:] - preemph * x[:-1])
    n_frames = 1 if len(x) <= frame_len else 1 + int(np.ceil((len(x) - frame_len) / frame_step))
    x = np.concatenate([x, np.zeros((n_frames - 1) * frame_step + frame_len - len(x))])
    frames = _frames(x, frame_len, frame_step)
    pspec = np.abs(np.fft.rfft(frames, nfft)) ** 2 / nfft
    energy = pspec.sum(1)
    energy = np.where(energy == 0, np.finfo(float).eps, energy)
    mel = np.linspace(_hz_to_mel_htk(0), _hz_to_mel_htk(sample_rate / 2), nfilt + 2)
    bins = np.floor((nfft + 1) * _mel_to_hz_htk(mel) / sample_rate).astype(int)
    fbank = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        fbank[j, lo:mid] = (np.arange(lo, mid) - lo) / (mid - lo)
        fbank[j, mid:hi] = (hi - np.arange(mid, hi)) / (hi - mid)
    feat = pspec @ fbank.T
    feat = np.log(np.where(feat == 0, np.finfo(float).eps, feat))
    feat = dct(feat, type=2, axis=1, norm="ortho")[:, :numcep]
    feat *= 1 + (lifter / 2.0) * np.sin(np.pi * np.arange(numcep) / lifter)
    feat[:, 0] = np.log(energy)
    return feat


def _hz_to_mel_slaney(hz):
    hz = np.asarray(hz, float)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    mel = hz / f_sp
    return np.where(hz >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, mel)


def _mel_to_hz_slaney(mel):
    mel = np.asarray(mel, float)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


@functools.lru_cache(maxsize=8)  # the same few banks on every call; callers only read the array
def mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa.filters.mel defaults: Slaney mel scale, Slaney area normalisation; bin frequencies
    as librosa >= 0.10 (``rfftfreq``, which differs from 0.8's ``linspace`` for odd n_fft)."""
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_f = _mel_to_hz_slaney(np.linspace(_hz_to_mel_slaney(0), _hz_to_mel_slaney(sample_rate / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


def mel_power(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, n_fft: int = 321, hop: int = 160,
              n_mels: int = 120) -> np.ndarray:
    """librosa.feature.melspectrogram (centred, zero-padded, Hann, power 2): (frames, n_mels) float64.

    Frame ``k`` covers samples ``k * hop - n_fft // 2 ...``: frames away from the ends are the same
    for any stretch of audio that holds them (tqscore.signals.dnsmos computes a clip's once)."""
    x = np.pad(np.asarray(audio, np.float64), n_fft // 2)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann, as scipy.signal.get_window
    frames = _frames(x, n_fft, hop) * window
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return power @ mel_filters(sample_rate, n_fft, n_mels).T


def mel_db(mel: np.ndarray) -> np.ndarray:
    """DNSMOS P.808's scaling of a mel power spectrogram: ``(power_to_db(ref=max) + 40) / 40``, float32."""
    db = 10.0 * np.log10(np.maximum(1e-10, mel))
    db -= 10.0 * np.log10(max(1e-10, mel.max()))
    db = np.maximum(db, db.max() - 80.0)
    return ((db + 40.0) / 40.0).astype(np.float32)


def melspectrogram_db(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, n_fft: int = 321, hop: int = 160,
                      n_mels: int = 120) -> np.ndarray:
    """DNSMOS P.808 input: :func:`mel_power` then :func:`mel_db`; returns (frames, n_mels) float32."""
    return mel_db(mel_power(audio, sample_rate, n_fft, hop, n_mels))
