"""The shipped real-footage reference: one band per measured signal, from the real recordings."""

from __future__ import annotations

from tqscore.layout import LAYOUT_VERSION
from tqscore.signals import SIGNAL_NAMES
from tqscore.signals.reference import Band, load_reference, reference_band


def test_bands_cover_the_signals_and_are_ordered():
    ref = load_reference()
    assert ref["layout_version"] == LAYOUT_VERSION and len(ref["recordings"]) == 8
    assert all(r.split("/")[1] == "real" for r in ref["recordings"])
    for name in ("sync_confidence", "speech_ratio", "landmark_jitter", "mouth_motion_speech"):
        band = reference_band(name)
        assert isinstance(band, Band) and band.low <= band.median <= band.high and 1 <= band.n <= 8
        assert band.contains(band.median) and not band.contains(band.high + 1)
    assert reference_band("syncnet_lse_c") is None  # no SyncNet weights when it was measured
    assert reference_band("no_such_signal") is None
    assert {n for n in SIGNAL_NAMES if not n.startswith("syncnet_")} <= set(ref["signals"])
