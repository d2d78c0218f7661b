"""DNSMOS through ONNX Runtime: agrees with speechmos (Microsoft's dnsmos_local.py), falls with noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tqscore.errors import SignalError
from tqscore.media import load_audio
from tqscore.signals.dnsmos import Dnsmos

from conftest import MEDIA

# speechmos.dnsmos.run(the 10-s audio below, 16000) with speechmos 0.0.1.1 and librosa 0.11.
SPEECHMOS_10S = {"dnsmos_sig": 3.4936134, "dnsmos_bak": 3.9992459, "dnsmos_ovrl": 3.2131323,
                 "dnsmos_p808": 3.8305278}


@pytest.fixture(scope="module")
def dnsmos() -> Dnsmos:
    return Dnsmos()


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    # 10 s of speech (the 8-s file and its first 2 s) keeps DNSMOS to 2 segments, not the 7 that
    # dnsmos_local.py's repetition of an 8-s clip makes.
    audio, _ = load_audio(MEDIA / "audio" / "RD_Radio31_000.wav")
    return np.concatenate([audio, audio[:32000]])


def test_matches_speechmos_reference(dnsmos, speech):
    scores = dnsmos(speech)
    for key, value in SPEECHMOS_10S.items():
        assert scores[key] == pytest.approx(value, abs=1e-4), key


def test_ovrl_drops_with_noise_at_0_db(dnsmos, speech):
    audio = speech
    rng = np.random.default_rng(0)
    noisy = audio + rng.standard_normal(len(audio)).astype(np.float32) * np.sqrt(np.mean(audio**2))
    clean, dirty = dnsmos(audio), dnsmos(noisy)
    assert dirty["dnsmos_ovrl"] < clean["dnsmos_ovrl"] - 0.5
    assert dirty["dnsmos_bak"] < clean["dnsmos_bak"] - 0.5


def test_missing_model_names_the_file(tmp_path):
    with pytest.raises(SignalError, match="sig_bak_ovr.onnx: DNSMOS model missing"):
        Dnsmos(model_dir=tmp_path)


@pytest.fixture(scope="module")
def per_segment():
    from tqscore.testing.dnsmos_reference import PerSegmentDnsmos

    return PerSegmentDnsmos()


@pytest.mark.parametrize("clip, per_run, samples, n_segments", [("real/WDA_KatieHill_000.mp4", 16, None, 7),
                                                                 ("generated/sadtalker_art2_radio31.mp4", 3, None, 7),
                                                                 ("real/WDA_KatieHill_000.mp4", 16, 127_990, 6)])
def test_shared_frames_match_one_run_per_segment(dnsmos, per_segment, clip, per_run, samples, n_segments,
                                                 monkeypatch):
    # 8-s clips are repeated to 16 s: 7 overlapping segments; per_run 3 also crosses chunk edges.
    # 128000 samples are 800 STFT hops, so the repeated frames are periodic and one period of
    # the conv stack is tiled; 127990 are not (and make 6 segments), and take the full run.
    import tqscore.signals.dnsmos as module

    monkeypatch.setattr(module, "SEGMENTS_PER_RUN", per_run)
    audio, _ = load_audio(MEDIA / clip)
    audio = audio[:samples]
    assert len(module.segment_starts(audio)[1]) == n_segments
    found, reference = dnsmos(audio), per_segment(audio)
    for key, value in reference.items():
        assert found[key] == pytest.approx(value, abs=1e-4), key


def test_single_segment_matches_too(dnsmos, per_segment, speech):
    audio = speech[: int(9.5 * 16000)]
    found, reference = dnsmos(audio), per_segment(audio)
    for key, value in reference.items():
        assert found[key] == pytest.approx(value, abs=1e-4), key


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_a_long_clip_leaves_no_memory_behind(speech):
    """A worker scores thousands of clips: what one clip's DNSMOS allocates must go back, not stay
    in ONNX Runtime's arena (26 s of audio kept about 500 MB resident with the arena on)."""
    from tqscore.runtime.workers import release_freed_memory

    fresh = Dnsmos()  # its own sessions: no earlier test's run has sized them
    audio = np.tile(speech, 3)[: 26 * 16000]
    release_freed_memory()
    before = _rss_mb()
    fresh(audio)
    release_freed_memory()
    assert _rss_mb() - before < 150
