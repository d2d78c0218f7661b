"""Every benchmark script runs in its smoke mode, so a refactor that breaks one breaks CI.

Scripts are found by glob (any ``benchmarks/*.py`` with a ``__main__`` block), so a new benchmark
is covered the day it lands. The full modes stay out of CI: ``benchmarks/run_all.py`` runs them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if 'if __name__ == "__main__":' in p.read_text())
# Modes that take another code path than the default one: smoked too.
MODES = [(p, []) for p in SCRIPTS] + [(BENCHMARKS / "sync_agreement.py", ["--cuts"]),
                                      (BENCHMARKS / "sync_agreement.py", ["--partial"])]


def test_every_script_is_found():
    assert {p.name for p in SCRIPTS} >= {"media_decode.py", "runtime_e2e.py", "run_all.py"}


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("script", "flags"), MODES, ids=lambda v: v.stem if isinstance(v, Path) else "".join(v))
def test_smoke(script, flags):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(script), "--smoke", *flags], cwd=BENCHMARKS.parent, env=env,
                          capture_output=True, text=True, timeout=230)
    assert done.returncode == 0, f"{script.name} --smoke exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.stdout.strip(), f"{script.name} --smoke printed nothing"
