"""benchmarks/gpu_check.py on the CPU: the prepared folder's size, the report rewritten after every
part, deadlines, a kill mid-run that keeps the finished parts, and a rerun that reuses them.

What this cannot show: the GPU parts' figures (driver copies, FP16 speed, NVDEC parity), which
need the lent machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"
WHEEL_MIB = 26.9  # pynvvideocodec 2.2.4 cp312 manylinux_2_28 on PyPI, which --prepare adds


def check(*args, **kwargs):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpu-prep")
    proc = check("--prepare", str(folder), "--no-wheel")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder


def report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


def test_prepared_folder_fits_what_travels(prepared):
    manifest = json.loads((prepared / "prepared.json").read_text())
    assert manifest["mib"] + WHEEL_MIB <= 55
    assert {"fusion/fusion.onnx", "fusion/fusion.fp16.onnx", "fusion/inputs.npz"} <= set(manifest["files"])
    assert len([f for f in manifest["files"] if f.startswith("clips/") and f.endswith(".npz")]) == 3


def test_deadline_ends_a_part_and_the_report_says_so(prepared):
    proc = check("--smoke", "--work", str(prepared), "--parts", "cuda_driver,fusion_fp16", "--redo",
                 "--deadline", "fusion_fp16=0.05")
    parts = report(prepared)["parts"]
    assert proc.returncode == 1
    assert parts["fusion_fp16"]["status"] == "deadline" and parts["fusion_fp16"]["deadline_s"] == 0.05
    assert parts["cuda_driver"]["status"] in ("skipped", "ok")  # skipped here: no CUDA driver
    assert "| fusion_fp16 | deadline |" in (prepared / "report.md").read_text()


def test_a_kill_keeps_finished_parts_and_a_rerun_reuses_them(prepared):
    (prepared / "report.json").unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--smoke", "--work", str(prepared), "--redo",
                             "--parts", "fusion_fp16,model_fp16"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (prepared / "report.json").is_file() and "fusion_fp16" in report(prepared)["parts"]:
                break
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # the run and the part it has started
    finally:
        proc.wait(timeout=30)
    parts = report(prepared)["parts"]
    assert parts["fusion_fp16"]["status"] == "ok" and parts["fusion_fp16"]["met"]
    assert "model_fp16" not in parts
    finished = parts["fusion_fp16"]["seconds"]
    rerun = check("--smoke", "--work", str(prepared), "--parts", "fusion_fp16")
    assert rerun.returncode == 0 and "fusion_fp16: " not in rerun.stdout  # not run again
    assert report(prepared)["parts"]["fusion_fp16"]["seconds"] == finished
