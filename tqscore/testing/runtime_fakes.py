"""A stand-in for the worker's analysis, to test how `tqscore batch` runs, stops and resumes.

The real analysis (decode, Face Mesh, signals) takes seconds per clip and cannot be made to hang
on cue; these functions replace ``tqscore.runtime.local.analyse_clip`` and ``worker_init`` in
a real ``tqscore batch`` process (see ``run_fake_batch``), whose real worker pool, store, resume
logic, signals and exit codes then run as a user's would. What this does not prove: anything
about decoding or signals (the runtime's other tests run the real analysis on shared clips).

A file's name says what its analysis does: ``slow`` writes ``<file>.started`` and sleeps for
five minutes (a clip a worker is stuck on), ``flaky`` fails while ``$FAKE_FAIL`` is set (a
worker killed or timed out), ``corrupt`` always fails, ``nan`` gives a NaN and an infinite
value, anything else an ``ok`` analysis.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tqscore.runtime.analyse import Analysis, error_analysis
from tqscore.runtime.schema import STATUS_OK

log = logging.getLogger("tqscore.tests.fake")


def worker_init(syncnet_weights=None):
    log.debug("fake worker ready")
    return None


def analyse(state, task) -> Analysis:
    name = os.path.basename(task.path)
    if "slow" in name:
        Path(task.path + ".started").write_text(str(os.getpid()))
        time.sleep(300)
    if "corrupt" in name:
        return error_analysis(task, f"{task.path}: truncated or corrupt: fake")
    if "flaky" in name and os.environ.get("FAKE_FAIL"):
        return error_analysis(task, f"{task.path}: worker process died (exit code -9)")
    log.info("fake analysis of %s", name)
    signals = {"face_present_ratio": math.nan, "face_longest_gap_s": math.inf} if "nan" in name else {
        "face_present_ratio": 1.0}
    meta = {"duration_s": 1.0, "fps": 25.0, "width": 64, "height": 64, "video_codec": "h264",
            "frames_used": 25, "has_audio": False}
    return Analysis(task=task, status=STATUS_OK, meta=meta, signals=signals, ms={"total": 1.0})


# Spawned workers unpickle ``analyse`` and ``worker_init`` by module name: this module's, which
# the installed package makes importable in every process of the run.
RUNNER = textwrap.dedent("""
    import sys
    from tqscore.testing import runtime_fakes
    from tqscore.runtime import local
    local.analyse_clip = runtime_fakes.analyse
    local.worker_init = runtime_fakes.worker_init
    from tqscore.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def fake_batch_command(*args: str) -> list[str]:
    """The command line of a real ``tqscore ARGS`` process whose workers run :func:`analyse`."""
    return [sys.executable, "-c", RUNNER, *args]


def run_fake_batch(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(fake_batch_command("batch", *args, "--no-progress"), capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
