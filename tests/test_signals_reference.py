"""The shipped real-footage reference: robust percentiles per signal over every real recording."""

from __future__ import annotations

import math

import pytest

from tqscore.layout import LAYOUT_VERSION
from tqscore.signals import SIGNAL_NAMES
from tqscore.signals.reference import Band, load_reference, reference_band


def test_bands_cover_the_signals_from_every_real_recording():
    ref = load_reference()
    assert ref["layout_version"] == LAYOUT_VERSION and len(ref["recordings"]) == 31
    assert all("real" in r.split("/") for r in ref["recordings"])
    for name in ("sync_confidence", "speech_ratio", "landmark_jitter", "mouth_motion_speech"):
        band = reference_band(name)
        assert isinstance(band, Band) and band.low <= band.q25 <= band.median <= band.q75 <= band.high
        assert 1 <= band.n <= 31 and band.spread > 0
        assert band.contains(band.median) and not band.contains(band.high + 1)
    assert reference_band("mouth_motion_speech").log and not reference_band("sync_offset_frames").log
    assert reference_band("syncnet_lse_c") is None  # no SyncNet weights when it was measured
    assert reference_band("no_such_signal") is None
    assert {n for n in SIGNAL_NAMES if not n.startswith("syncnet_")} <= set(ref["signals"])


def test_z_is_robust_standard_deviations_from_the_real_median():
    band = Band(low=1.0, high=16.0, median=4.0, n=9, q25=2.0, q75=8.0, log=True)
    spread = math.log(4.0) / 1.349  # interquartile range of the logs over a normal's
    assert band.spread == pytest.approx(spread)
    assert band.z(4.0) == 0.0 and band.z(8.0) == pytest.approx(math.log(2.0) / spread)
    assert band.z(1.0) == pytest.approx(-band.z(16.0))  # ratios: half is as far as double
    assert band.z(0.0) == -math.inf
    assert band.at_z(band.z(11.0)) == pytest.approx(11.0)
    flat = Band(low=0.0, high=0.329, median=0.0, n=31, q25=0.0, q75=0.0)  # quartiles coincide
    assert flat.spread == pytest.approx(0.1) and flat.z(0.1) == pytest.approx(1.0)
    still = Band(low=1.0, high=1.0, median=1.0, n=31, q25=1.0, q75=1.0)
    assert still.z(1.0) == 0.0 and still.z(0.9) == -math.inf


def test_head_range_bands_are_read_at_the_real_recordings_median_duration():
    """The four head ranges are banded at REFERENCE_DURATION_S, which is the median signal_span_s
    of the recordings behind the reference: rebuilding it from other recordings must move both."""
    from tqscore.model.reference import RANGE_SIGNALS, REFERENCE_DURATION_S

    assert reference_band("signal_span_s").median == pytest.approx(REFERENCE_DURATION_S, abs=0.01)
    assert all(reference_band(name).n == 31 for name in RANGE_SIGNALS)
