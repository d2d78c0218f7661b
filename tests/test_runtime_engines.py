"""`tqscore batch --engines`: train/serve parity, crash safety with scores, no torch at serving.

A tiny fusion bundle (random weights, random fitted-looking preprocessing) and the tiny
backbones of conftest are exported to FP32 ONNX through the export code, exactly as
`tqscore export --formats onnx` does; `batch` then serves them with ONNX Runtime (CPU).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tqscore.testing.media_variants import remux, truncate
from runtime_helpers import batch_that_dies_after_first_part, run_cli, stable
from tqscore.layout import LABELS, STREAMS

PARITY_TOL = 1e-3


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    import torch

    from tqscore.model.bundle import save_bundle
    from tqscore.model.config import load_config
    from tqscore.model.fusion import FusionModel
    from tqscore.model.preprocess import ModalityTransform, Preprocessing

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    transforms = {}
    for s in STREAMS:
        d, k = s.width, s.pca_components
        basis, _ = np.linalg.qr(rng.standard_normal((d, k)))
        transforms[s.name] = ModalityTransform(
            median=rng.standard_normal(d), mean=rng.standard_normal(d) * 0.1, scale=rng.uniform(0.5, 2.0, d),
            components=basis.T, pca_mean=np.zeros(d), variance_kept=0.95,
        )
    prep = Preprocessing(transforms)
    cfg = load_config("standard").replace(d_model=32, n_layers=2, n_heads=4, ffn=64, input_dims=prep.out_widths)
    model = FusionModel(cfg).eval()
    return save_bundle(tmp_path_factory.mktemp("bundle"), model, prep, cfg)


@pytest.fixture(scope="module")
def engine_dir(tiny_bundle, tiny_resnet_dir, tiny_hubert_dir, tmp_path_factory):
    from tqscore.export.formats import run_export, select_formats
    from tqscore.export.job import ExportJob

    out = tmp_path_factory.mktemp("engines")
    job = ExportJob(tiny_bundle, out, resnet=str(tiny_resnet_dir), hubert=str(tiny_hubert_dir))
    run_export(job, select_formats("onnx"))
    return out


@pytest.fixture(scope="module")
def videos(tmp_path_factory, media_dir):
    """Clips of 150 frames (8 s), 102 frames (4.08 s, padded), no audio, and one bad file."""
    root = tmp_path_factory.mktemp("engine-videos")
    for name in ("generated/sadtalker_art2_radio31.mp4", "generated/latentsync_demo1_out.mp4"):
        os.symlink(media_dir / name, root / name.split("/")[1])
    remux(media_dir / "generated" / "sadtalker_camera_radio31.mp4", root / "no_audio.mp4", audio=False)
    truncate(media_dir / "real" / "WDA_KatieHill_000.mp4", root / "broken.mp4")
    return root


@pytest.fixture(scope="module")
def scored(videos, engine_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored") / "scores.parquet"
    proc = run_cli(str(videos), "--out", str(out), "--engines", str(engine_dir), "--workers", "2",
                   "--batch-size", "32")
    assert out.exists(), proc.stderr
    return proc, pl.read_parquet(out)


def test_engine_run_scores_every_good_clip(scored):
    proc, table = scored
    assert proc.returncode == 1  # broken.mp4
    ok = table.filter(pl.col("status") == "ok")
    assert ok.height == 3
    for label in LABELS:
        assert ok[label].null_count() == 0 and ok[label].is_between(1.0, 5.0).all()
    assert ok["engine_id"].n_unique() == 1 and ok["model_id"].null_count() == 0
    assert ok["verdict"].is_in(["pass", "review", "fail"]).all() and (ok["model_id"] != "reference-4").all()  # rules run
    assert (ok["ms_visual"] > 0).all() and (ok["ms_fusion"] > 0).all()
    broken = table.filter(pl.col("path") == "broken.mp4")
    assert broken["status"].to_list() == ["error"] and broken[LABELS[0]].null_count() == 1


def test_scores_match_the_pytorch_path(scored, videos, tiny_bundle, tiny_resnet_dir, tiny_hubert_dir, frontend_of):
    from tqscore.features.backbones import AudioBackbone, VisualBackbone
    from tqscore.features.frontend import streams_from_frontend
    from tqscore.layout import FRAME_MASK, STREAM_NAMES
    from tqscore.model.bundle import load_bundle

    _, table = scored
    bundle = load_bundle(tiny_bundle)
    visual, audio = VisualBackbone(str(tiny_resnet_dir)), AudioBackbone(str(tiny_hubert_dir))
    ok = table.filter(pl.col("status") == "ok").sort("path")
    worst = 0.0
    for row in ok.iter_rows(named=True):
        # by the linked clip's own path: the session's front end of a shared clip is reused
        streams = streams_from_frontend(frontend_of((videos / row["path"]).resolve()), visual, audio)
        expected = bundle.predict({m: streams[m][None] for m in STREAM_NAMES}, streams[FRAME_MASK][None])[0]
        got = np.array([row[label] for label in LABELS])
        worst = max(worst, float(np.abs(got - expected).max()))
    assert worst <= PARITY_TOL, f"batch vs PyTorch path: max |score difference| {worst:.2e}"


def test_sigkill_with_engines_then_resume_gives_identical_scores(scored, videos, engine_dir, tmp_path):
    _, table = scored
    out = tmp_path / "scores.parquet"
    parts = out.with_name(out.name + ".parts")
    args = ["batch", str(videos), "--out", str(out), "--engines", str(engine_dir), "--workers", "1",
            "--part-rows", "1", "--no-progress"]
    # The run kills its own process group (main process and workers, as a lost node does) right
    # after its first part file is on disk: the same moment every time, whatever the machine's speed.
    kill_after_first_part = batch_that_dies_after_first_part(args, "os.killpg(0, signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", kill_after_first_part], start_new_session=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    done_before = sum(pl.read_parquet(p).height for p in parts.glob("part-*.parquet"))
    assert done_before == 1 < table.height
    again = run_cli(str(videos), "--out", str(out), "--engines", str(engine_dir))
    assert f"already done {done_before}" in again.stdout, again.stderr
    result = pl.read_parquet(out)
    assert result.height == table.height and result["path"].is_unique().all()
    assert_frame_equal(stable(result), stable(table), check_exact=True)  # scores, signals, statuses
    assert not parts.exists()


def test_serving_path_never_imports_torch_or_transformers(videos, engine_dir, tmp_path):
    """What runs in a worker and in the main process, in one fresh interpreter: no torch."""
    one = tmp_path / "one"
    one.mkdir()
    os.symlink(videos / "broken.mp4", one / "broken.mp4")
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from tqscore.runtime.analyse import ClipTask, analyse_clip, worker_init
        from tqscore.runtime.command import execute
        from tqscore.runtime.config import BatchConfig
        from tqscore.runtime.scoring import load_scorer
        state = worker_init()
        path = "{videos / 'sadtalker_art2_radio31.mp4'}"
        analysis = analyse_clip(state, ClipTask("a.mp4", path, 1, 1, "auto", True))
        scorer = load_scorer(Path("{engine_dir}"), "auto")
        finished = scorer.add([analysis]) + scorer.flush()
        assert finished[0][1] is not None, analysis
        code = execute(BatchConfig(Path("{one}"), Path("{tmp_path / 'o.parquet'}"), Path("{engine_dir}"),
                                   workers=1, progress=False))
        assert code == 1, code
        heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
        print("HEAVY", heavy)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "HEAVY []" in proc.stdout
