"""Every benchmark script runs in its smoke mode, so a refactor that breaks one breaks CI.

Scripts are found by glob (any ``benchmarks/*.py`` with a ``__main__`` block), so a new benchmark
is covered the day it lands. The full modes stay out of CI: ``benchmarks/run_all.py`` runs them.
The smoke runs are marked ``slow``: they run by default (and in CI); ``-m "not slow"`` skips them
in a quick edit-test loop.

Each smoke run executes its script in this interpreter (``runpy.run_path`` as ``__main__``, with
``sys.argv`` set), exactly as ``python benchmarks/NAME.py --smoke`` runs it, without paying a fresh
interpreter's imports of torch, polars and ONNX Runtime for every script (about 3 s each on two
cores). ``test_a_benchmark_runs_as_a_script`` keeps one real command line.
"""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from test_signals_syncnet import onnx_weights, weights  # noqa: F401  (fixtures: random SyncNet weights)

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if 'if __name__ == "__main__":' in p.read_text())
# gpu_check's smoke mode (a kill mid-run included) has tests of its own: tests/test_gpu_check.py.
OWN_TESTS = {"gpu_check.py"}
# Modes that take another code path than the default one: smoked too.
MODES = [(p, []) for p in SCRIPTS if p.name not in OWN_TESTS] + [(BENCHMARKS / "sync_agreement.py", ["--cuts"]),
                                      (BENCHMARKS / "sync_agreement.py", ["--partial"])]


@pytest.fixture
def smoke(monkeypatch, capfd, one_torch_thread):
    """``smoke(script, *flags)``: the script's ``--smoke`` run in this interpreter, from the repository
    root, one BLAS / torch thread (its child processes: ``OMP_NUM_THREADS=1``) as CI's subprocess runs
    had; returns what it printed. A non-zero exit fails with the output."""

    def run(script: Path, *flags: str) -> str:
        monkeypatch.chdir(REPO)
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        monkeypatch.setattr(sys, "argv", [str(script), "--smoke", *flags])
        try:
            runpy.run_path(str(script), run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out, err = capfd.readouterr()
        assert code == 0, f"{script.name} --smoke exited {code}:\n{out[-3000:]}\n{err[-3000:]}"
        return out

    return run


def test_every_script_is_found():
    assert {p.name for p in SCRIPTS} >= {"media_decode.py", "runtime_e2e.py", "run_all.py"}


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize(("script", "flags"), MODES, ids=lambda v: v.stem if isinstance(v, Path) else "".join(v))
def test_smoke(script, flags, smoke):
    assert smoke(script, *flags).strip(), f"{script.name} --smoke printed nothing"


@pytest.mark.slow
def test_a_benchmark_runs_as_a_script():
    """The command line a user types, in a fresh interpreter: ``python benchmarks/NAME.py --smoke``
    from the repository root finds ``common`` and ``tqscore`` on its own (media_decode: the lightest)."""
    done = subprocess.run([sys.executable, str(BENCHMARKS / "media_decode.py"), "--smoke"], cwd=REPO,
                          env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()


@pytest.mark.slow
def test_degradations_with_syncnet_weights_add_the_syncnet_rows(onnx_weights, smoke):
    """``--syncnet``: the one way to measure the SyncNet columns against the degradations once a
    user has real weights (random ones here: this proves the plumbing, not SyncNet's shares)."""
    printed = smoke(BENCHMARKS / "degradations.py", "--only", "foreign_audio", "--syncnet", str(onnx_weights))
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in printed.splitlines()
            if line.startswith("| `")}
    share = re.compile(r"\d+ % \(\d+\)")
    assert share.fullmatch(rows["`syncnet_lse_c`"]) and share.fullmatch(rows["`syncnet_lse_d`"]), rows
