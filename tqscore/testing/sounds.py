"""Sounds made at test time for the speech-activity tests and benchmarks/vad_compare.py: music,
noises and silence at 16 kHz, and mixes of the shared speech with them at a given SNR.

Music is synthesised, not recorded (nothing licensed ships here): chords of harmonic tones
(partials 1..8 at amplitude 1/k, a piano-like decay per note) in a I-V-vi-IV progression at
100 beats/min with a melody on top, or a single sustained organ-like chord. Noises: white, pink
(1/f power, shaped in the frequency domain), brown (1/f^2), and babble (six time-reversed,
time-shifted copies of the shared speech summed: speech-shaped but unintelligible, the
hardest of them for a detector).
"""

from __future__ import annotations

import numpy as np

SR = 16_000


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def at_level(x: np.ndarray, dbfs: float) -> np.ndarray:
    """``x`` scaled to an RMS level of ``dbfs`` (dB re full scale 1.0)."""
    return (x * (10 ** (dbfs / 20) / max(_rms(x), 1e-12))).astype(np.float32)


def _tone(freq: float, seconds: float, partials: int = 8, decay_s: float | None = 0.8) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    wave = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, partials + 1) if freq * k < SR / 2)
    attack = np.minimum(t / 0.01, 1.0)
    envelope = attack * (np.exp(-t / decay_s) if decay_s else 1.0)
    return wave * envelope


def _midi(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def chords(seconds: float, seed: int = 0) -> np.ndarray:
    """Piano-like chord progression with a melody, -20 dBFS."""
    rng = np.random.default_rng(seed)
    beat = 60 / 100
    progression = [(48, 52, 55), (43, 47, 50), (45, 48, 52), (41, 45, 48)]  # C G Am F
    out = np.zeros(int(seconds * SR))
    bar = 0
    for start in np.arange(0, seconds, 4 * beat):
        for note in progression[bar % 4]:
            tone = _tone(_midi(note), min(4 * beat, seconds - start))
            i = int(start * SR)
            out[i : i + len(tone)] += tone
        for b in range(4):
            at = start + b * beat
            if at >= seconds:
                break
            tone = _tone(_midi(int(rng.choice([72, 74, 76, 79, 81]))), min(beat, seconds - at), decay_s=0.3)
            i = int(at * SR)
            out[i : i + len(tone)] += 0.6 * tone
        bar += 1
    return at_level(out, -20)


def organ(seconds: float) -> np.ndarray:
    """One sustained A-minor chord of harmonic tones, -20 dBFS."""
    return at_level(sum(_tone(_midi(n), seconds, decay_s=None) for n in (57, 60, 64)), -20)


def white(seconds: float, seed: int = 0) -> np.ndarray:
    return at_level(np.random.default_rng(seed).standard_normal(int(seconds * SR)), -20)


def coloured(seconds: float, exponent: float, seed: int = 0) -> np.ndarray:
    """Noise with power ~ 1/f^exponent (1 = pink, 2 = brown), 20 Hz high-passed, -20 dBFS."""
    n = int(seconds * SR)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    spectrum *= np.where(f > 20, 1 / np.maximum(f, 20) ** (exponent / 2), 0.0)
    return at_level(np.fft.irfft(spectrum, n), -20)


def babble(speech: np.ndarray, seconds: float, voices: int = 6, seed: int = 0) -> np.ndarray:
    """``voices`` time-reversed copies of ``speech`` at random offsets, summed, -20 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    reversed_speech = np.resize(speech[::-1], n + len(speech))
    out = sum(np.roll(reversed_speech, int(rng.integers(len(speech))))[:n] for _ in range(voices))
    return at_level(out, -20)


def mix(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech`` plus ``noise`` (cut or tiled to its length) at ``snr_db`` dB SNR (RMS)."""
    noise = np.resize(noise, len(speech))
    gain = _rms(speech) / max(_rms(noise), 1e-12) / 10 ** (snr_db / 20)
    return (speech + gain * noise).astype(np.float32)
