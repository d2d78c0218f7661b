"""The worker's per-clip front end call: which products a run without engines asks for."""

from __future__ import annotations

import pytest

from tqscore.features import frontend
from tqscore.runtime.analyse import ClipTask, _frontend


@pytest.mark.parametrize(
    ("need_inputs", "syncnet_run", "model_inputs"),
    [(False, False, False), (True, False, True), (False, True, True), (True, True, True)],
)
def test_model_crops_only_for_the_engines_or_syncnet(monkeypatch, need_inputs, syncnet_run, model_inputs):
    """Signals-only runs skip the standard crops; SyncNet's fallback scores them, so it keeps them."""
    calls = []
    monkeypatch.setattr(frontend, "run_frontend", lambda path, **kwargs: calls.append(kwargs))
    task = ClipTask(rel="a.mp4", path="a.mp4", size_bytes=None, mtime_us=None, decode_device="cpu",
                    need_inputs=need_inputs)
    _frontend(task, syncnet_run=syncnet_run)
    assert calls == [{"decode_device": "cpu", "syncnet_run": syncnet_run, "model_inputs": model_inputs}]
