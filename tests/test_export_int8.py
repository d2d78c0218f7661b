"""INT8 ResNet101 for CPUs: calibration on a folder's face crops, the manifest entry, and serving.

Tiny random-weight models (tests/conftest.py) and one real shared clip for calibration. What
this does not show: speed, and the fidelity of trained full-size weights (benchmarks/int8.py
measures full-size random weights; docs/export.md says what that does and does not tell).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from tqscore.testing.export_support import make_bundle

from conftest import MEDIA
from tqscore.export.manifest import read_manifest, write_manifest


@pytest.fixture(scope="module")
def calibration_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibrate")
    os.symlink(MEDIA / "real" / "WDA_KatieHill_000.mp4", folder / "katie.mp4")
    (folder / "broken.mp4").write_bytes(b"not a video")  # one broken file is skipped, not fatal
    return folder


@pytest.fixture(scope="module")
def int8_folder(tmp_path_factory, tiny_resnet_dir, tiny_hubert_dir, calibration_dir):
    from tqscore.export.formats import run_export, select_formats
    from tqscore.export.job import ExportJob

    root = tmp_path_factory.mktemp("int8")
    job = ExportJob(make_bundle(root / "bundle"), root / "engines", str(tiny_resnet_dir), str(tiny_hubert_dir),
                    calibrate=calibration_dir)
    written = run_export(job, select_formats("onnx,onnx-int8"))
    assert "resnet101.int8.onnx" in [p.name for p in written]
    return job


def test_int8_graph_is_calibrated_on_the_folders_face_crops(int8_folder, calibration_dir):
    manifest = read_manifest(int8_folder.out)
    entry = manifest.quantized["visual"]
    assert entry.onnx_sha256 == manifest.graphs["visual"].sha256 and entry.precision == "int8"
    assert entry.calibration["clips"] == ["katie.mp4"]
    assert entry.calibration["crops"] == 18  # 24 evenly spaced face crops, one in four held out
    assert any(s.startswith("broken.mp4: ") for s in entry.calibration["skipped"])
    import onnx

    ops = {n.op_type for n in onnx.load(str(int8_folder.out / entry.file)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops  # QDQ format
    parity = manifest.parity["visual"]
    assert parity["int8_heldout_crops"] == 6
    assert 0.99 < parity["int8_vs_fp32_cosine_min"] <= parity["int8_vs_fp32_cosine_mean"] <= 1.0


def test_int8_needs_calibration_clips(int8_folder, tmp_path):
    from tqscore.export.formats import FormatError, format_int8, select_formats
    from tqscore.export.int8 import CalibrationError
    from tqscore.export.job import ExportJob

    assert "onnx-int8" not in [f.name for f in select_formats(None)]  # never in the default set
    job = ExportJob(None, int8_folder.out, force=True)
    job.open()
    with pytest.raises(FormatError, match="format 'onnx-int8' needs --calibrate VIDEO_DIR"):
        format_int8(job)
    (tmp_path / "faceless").mkdir()
    (tmp_path / "faceless" / "x.mp4").write_bytes(b"")
    job.calibrate = tmp_path / "faceless"
    with pytest.raises(CalibrationError, match="0 face crop\\(s\\) from 1 video\\(s\\)"):
        format_int8(job)


def test_cpu_serving_uses_int8_when_present(int8_folder, caplog):
    from tqscore.runtime.engines import EngineError, EngineSet

    crops = np.random.default_rng(0).standard_normal((5, 3, 224, 224)).astype(np.float32)
    int8 = EngineSet.load(int8_folder.out, device="cpu")
    fp32 = EngineSet.load(int8_folder.out, device="cpu", precision="fp32")
    assert (int8.precision, fp32.precision) == ("int8", "fp32")
    assert int8.engine_id == fp32.engine_id + "-int8"  # rows say which graph scored them
    a, b = int8.visual(crops), fp32.visual(crops)
    cos = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert a.shape == (5, 2048) and cos.min() > 0.98 and not np.allclose(a, b)
    with pytest.raises(EngineError, match="does not run with device 'tensorrt'"):
        EngineSet.load(int8_folder.out, device="tensorrt", precision="int8")

    manifest = read_manifest(int8_folder.out)
    saved = manifest.model_copy(deep=True)
    manifest.quantized["visual"].onnx_sha256 = "0" * 64  # as if resnet101.onnx were re-exported since
    write_manifest(int8_folder.out, manifest)
    try:
        with caplog.at_level(logging.WARNING):
            assert EngineSet.load(int8_folder.out, device="cpu").precision == "fp32"
        assert "INT8 ResNet101 not used" in caplog.text and "stale" in caplog.text
        with pytest.raises(EngineError, match="stale, quantized from an older resnet101.onnx"):
            EngineSet.load(int8_folder.out, device="cpu", precision="int8")
    finally:
        write_manifest(int8_folder.out, saved)


def test_batch_precision_option_is_validated(tmp_path):
    from tqscore.runtime.config import BatchConfig

    assert BatchConfig(tmp_path, tmp_path / "o.parquet", precision="int8").precision == "int8"
    with pytest.raises(ValueError, match="precision must be one of"):
        BatchConfig(tmp_path, tmp_path / "o.parquet", precision="int4")


def test_calibrate_alone_builds_the_int8_graph_from_the_folder(int8_folder, calibration_dir, tmp_path, capsys):
    """`tqscore export --calibrate DIR --out ENGINE_DIR`: no --model, no --formats: INT8 only."""
    import shutil

    from tqscore.cli import main

    out = shutil.copytree(int8_folder.out, tmp_path / "engines")
    (out / "resnet101.int8.onnx").unlink()
    assert main(["export", "--calibrate", str(calibration_dir), "--out", str(out), "--no-progress"]) == 0
    assert "formats onnx-int8; 1 file(s) written" in capsys.readouterr().out
    manifest = read_manifest(out)
    assert manifest.quantized["visual"].sha256 != "" and (out / "resnet101.int8.onnx").is_file()
    assert manifest.graphs == read_manifest(int8_folder.out).graphs  # the FP32 graphs were left alone
