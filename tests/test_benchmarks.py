"""Every benchmark script runs in its smoke mode, so a refactor that breaks one breaks CI.

Scripts are found by glob (any ``benchmarks/*.py`` with a ``__main__`` block), so a new benchmark
is covered the day it lands. The full modes stay out of CI: ``benchmarks/run_all.py`` runs them.
The smoke runs are marked ``slow``: they run by default (and in CI); ``-m "not slow"`` skips them
in a quick edit-test loop.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_signals_syncnet import onnx_weights, weights  # noqa: F401  (fixtures: random SyncNet weights)

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if 'if __name__ == "__main__":' in p.read_text())
# gpu_check's smoke mode (a kill mid-run included) has tests of its own: tests/test_gpu_check.py.
OWN_TESTS = {"gpu_check.py"}
# Modes that take another code path than the default one: smoked too.
MODES = [(p, []) for p in SCRIPTS if p.name not in OWN_TESTS] + [(BENCHMARKS / "sync_agreement.py", ["--cuts"]),
                                      (BENCHMARKS / "sync_agreement.py", ["--partial"])]


def _smoke(script: Path, *flags: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(script), "--smoke", *flags], cwd=BENCHMARKS.parent, env=env,
                          capture_output=True, text=True, timeout=230)


def test_every_script_is_found():
    assert {p.name for p in SCRIPTS} >= {"media_decode.py", "runtime_e2e.py", "run_all.py"}


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize(("script", "flags"), MODES, ids=lambda v: v.stem if isinstance(v, Path) else "".join(v))
def test_smoke(script, flags):
    done = _smoke(script, *flags)
    assert done.returncode == 0, f"{script.name} --smoke exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.stdout.strip(), f"{script.name} --smoke printed nothing"


@pytest.mark.slow
def test_degradations_with_syncnet_weights_add_the_syncnet_rows(onnx_weights):
    """``--syncnet``: the one way to measure the SyncNet columns against the degradations once a
    user has real weights (random ones here: this proves the plumbing, not SyncNet's shares)."""
    done = _smoke(BENCHMARKS / "degradations.py", "--only", "foreign_audio", "--syncnet", str(onnx_weights))
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in done.stdout.splitlines()
            if line.startswith("| `")}
    share = re.compile(r"\d+ % \(\d+\)")
    assert share.fullmatch(rows["`syncnet_lse_c`"]) and share.fullmatch(rows["`syncnet_lse_d`"]), rows
