"""benchmarks/sync_short.py: false sync offsets on short cuts of real recordings, by speech.

The smoke run cuts the first 6 s of a real recording into 4- and 5-s pieces and reads each with
its own audio, delayed copies and an unrelated audio, as ``tqscore batch`` would read those
pieces as files; hand-built readings check how each one is judged.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import sync_short  # benchmarks/ is on pytest's pythonpath (pyproject.toml)

from tqscore.model.reference import SYNC_PEAK_SCALE, tolerance_frames
from tqscore.signals.vad import SileroVad

pytestmark = pytest.mark.skipif(not sync_short.SMOKE_SOURCE.exists(), reason="../shared/media is not beside this checkout")


def _reading(**changes) -> dict:
    row = {"recording": "real/a.mp4", "real": True, "length_s": 5.0, "start_s": 0.0, "whole_offset": 1,
           "audio": "own", "shift": 0, "speech_s": 4.0, "offset": 1, "confidence": 0.3}
    return row | changes


def test_readings_are_judged_as_the_scorer_judges_a_row():
    low, high = tolerance_frames()
    needed = SYNC_PEAK_SCALE / np.sqrt(4.0)
    table = pl.DataFrame([
        _reading(offset=high + 5, confidence=needed * 1.1),  # certain and false
        _reading(offset=high + 5, confidence=needed * 0.9),  # false under the estimator's floor alone
        _reading(audio="shift", shift=6, offset=7, confidence=0.3),  # read at its delay
        _reading(audio="shift", shift=6, offset=1, confidence=0.3),  # certain but not at its delay
        _reading(speech_s=2.0, offset=high + 5),  # under 3 s: never read
        _reading(speech_s=0.0),  # no speech: not a cut to judge
    ])
    j = sync_short.judged(table)
    assert len(j) == 5
    assert j["certain"].to_list() == [True, False, True, True, False]
    assert j["certain_base"].to_list() == [True, True, True, True, False]
    assert j["beyond"].to_list()[:2] == [True, True] and j["far"].to_list()[:2] == [True, True]
    assert j["right"].to_list()[2:4] == [True, False]
    assert j["fail"].to_list()[:2] == [True, False]  # 5 frames beyond the tolerance: past BT.1359 acceptability
    assert j["bin"].cast(pl.Utf8).to_list() == ["4-5"] * 4 + ["< 3"]


def test_cuts_are_read_as_files_of_that_length_and_delays_as_real_delays():
    rec = sync_short.Recording("real/x.mp4", True, np.arange(250) / 25.0, np.zeros((250, 468, 3), np.float32),
                               np.ones(250, bool), 25.0, 1.0, np.arange(160000, dtype=np.float32), np.ones(250, bool))
    piece = sync_short.audio_piece(rec.audio, 2.0 - 4 / 25.0, 3.0)  # 4 frames late: the sound of 1.84 s at 2 s
    assert len(piece) == 48000 and piece[0] == 2.0 * 16000 - 4 * 640
    assert sync_short.audio_piece(rec.audio, -0.5, 1.0)[:8000].sum() == 0  # before the recording: silence
    assert sync_short.audio_piece(rec.audio, 9.5, 1.0, wrap=True)[-1] == 7999  # wrapped round
    assert sync_short.speech_in(rec, 8.0, 4.0, wrap=True) == pytest.approx(4.0)
    assert sync_short.speech_in(rec, 8.0, 4.0) == pytest.approx(2.0)
    assert len(sync_short.starts(10.0, 4.0, 0.5)) == 13 and len(sync_short.starts(3.0, 4.0, 0.5)) == 0


def test_smoke_run_on_a_real_clip_reads_no_false_certain_offset(tmp_path, capsys):
    """The first 6 s of a real recording: every 4- and 5-s cut with its own audio reads no certain
    offset beyond the tolerance and fails nothing; the tables print."""
    rec = sync_short.smoke_recording(tmp_path, SileroVad())
    table = sync_short.collect([rec], sync_short.SMOKE_LENGTHS)
    assert set(table["audio"]) == {"own", "displaced", "shift"} and set(table["length_s"]) == {4.0, 5.0}
    j = sync_short.judged(table)
    own = j.filter(pl.col("audio") == "own")  # 4-s cuts from 0 to 2 s, 5-s from 0 to 1 s, every 0.5 s
    assert len(own) == 8 and not (own["certain"] & own["beyond"]).any() and not own["fail"].any()
    sync_short.report(table)
    out = capsys.readouterr().out
    assert "Real recordings, cuts with their own audio" in out and f"SYNC_PEAK_SCALE = {SYNC_PEAK_SCALE}" in out
