"""SyncNet: architecture with random weights, the LSE arithmetic, the converter and the scorer."""

from __future__ import annotations

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import save_file  # noqa: E402

from tqscore.cli import main as cli_main  # noqa: E402
from tqscore.errors import SignalError  # noqa: E402
from tqscore.signals.syncnet import SyncNetScorer, lse_from_distances, shift_distances, windows  # noqa: E402
from tqscore.signals.syncnet_model import SyncNet  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Random SyncNet weights written as syncnet_python does (torch.save of the state dict)."""
    torch.manual_seed(0)
    model = SyncNet().eval()
    folder = tmp_path_factory.mktemp("syncnet")
    torch.save(model.state_dict(), folder / "syncnet_v2.model")
    return model, folder


@pytest.fixture(scope="module")
def onnx_weights(weights):
    """The random weights converted by the command line, as a user would."""
    _, folder = weights
    out = folder / "syncnet.onnx"
    assert cli_main(["export-syncnet", str(folder / "syncnet_v2.model"), "--out", str(out)]) == 0
    return out


def test_architecture_shapes_and_parameter_names(weights):
    model, _ = weights
    lip, aud = model(torch.zeros(3, 3, 5, 224, 224), torch.zeros(3, 1, 13, 20))
    assert lip.shape == aud.shape == (3, 1024)
    names = model.state_dict()
    # syncnet_python's names: the last conv of each branch and both heads' output layers
    assert names["netcnnaud.18.weight"].shape == (512, 256, 5, 4)
    assert names["netcnnlip.18.weight"].shape == (512, 256, 1, 6, 6)
    assert names["netcnnlip.0.weight"].shape == (96, 3, 5, 7, 7)
    assert names["netfcaud.3.weight"].shape == names["netfclip.3.weight"].shape == (1024, 512)
    assert sum(v.numel() for k, v in names.items() if "num_batches" not in k) > 13_000_000


def test_lse_math_on_a_hand_made_distance_matrix():
    # 4 windows x 31 shifts; mean distance is 10 everywhere except shift index 18 (= +3) with 4
    # and index 15 (0) with 7.
    dists = np.full((4, 31), 10.0)
    dists[:, 18] = [3.0, 5.0, 4.0, 4.0]
    dists[:, 15] = 7.0
    out = lse_from_distances(dists)
    assert out["syncnet_lse_d"] == pytest.approx(4.0)
    assert out["syncnet_lse_c"] == pytest.approx(10.0 - 4.0)  # median of mdist is 10
    # argmin index 18: syncnet_python prints vshift - 18 = -3; tqscore's sign is +3 (audio lags)
    assert out["syncnet_offset_frames"] == 3


def test_shift_distances_pair_window_i_with_audio_i_plus_shift():
    rng = np.random.default_rng(0)
    aud = rng.standard_normal((12, 8)).astype(np.float32)
    lip = np.roll(aud, -2, axis=0)  # lip window i looks like audio window i + 2
    lip[-2:] = 100.0
    dists = shift_distances(lip, aud)
    assert dists.shape == (12, 31)
    np.testing.assert_allclose(dists[:10, 15 + 2], np.sqrt(8) * 1e-6, atol=1e-5)
    # zero padding beyond the ends: distance to the zero vector, as torch's F.pad in calc_pdist
    np.testing.assert_allclose(dists[0, 0], np.linalg.norm(lip[0] + 1e-6), rtol=1e-6)
    assert lse_from_distances(dists[:10])["syncnet_offset_frames"] == 2


def test_windows_are_syncnet_python_inputs():
    crops = np.zeros((30, 224, 224, 3), np.uint8)
    crops[..., 0] = 200  # red in RGB -> last channel in BGR
    times = np.arange(30) / 25.0
    audio = np.zeros(30 * 640, np.float32)
    audio[::7] = 0.1
    batches = list(windows(crops, times, audio))
    lip = np.concatenate([b[0] for b in batches])
    aud = np.concatenate([b[1] for b in batches])
    assert lip.shape == (25, 3, 5, 224, 224) and aud.shape == (25, 1, 13, 20)  # lastframe = 30 - 5
    assert lip[0, 2].max() == 200 and lip[0, 0].max() == 0


def test_export_and_score_onnx_matches_safetensors(weights, onnx_weights, tmp_path):
    _, folder = weights
    assert cli_main(["export-syncnet", str(folder / "syncnet_v2.model"), "--out", str(tmp_path / "s.safetensors")]) == 0
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (12, 224, 224, 3), dtype=np.uint8)
    times = np.arange(12) / 25.0
    audio = rng.standard_normal(12 * 640).astype(np.float32) * 0.1
    a = SyncNetScorer.load(onnx_weights).score(crops, times, audio)
    b = SyncNetScorer.load(tmp_path / "s.safetensors").score(crops, times, audio)
    assert a["syncnet_offset_frames"] == b["syncnet_offset_frames"]
    assert a["syncnet_lse_d"] == pytest.approx(b["syncnet_lse_d"], rel=1e-4)
    assert a["syncnet_lse_c"] == pytest.approx(b["syncnet_lse_c"], rel=1e-3, abs=1e-5)
    scorer = SyncNetScorer.load(onnx_weights)
    nulls = dict.fromkeys(("syncnet_offset_frames", "syncnet_lse_c", "syncnet_lse_d"))
    assert scorer.score(crops[:4], times[:4], audio[: 4 * 640]) == nulls  # shorter than one window
    assert scorer.score(crops, times, audio, np.zeros(12, bool)) == nulls  # no face in any window


def test_converter_refuses_pickled_objects_and_wrong_weights(tmp_path, capsys):
    torch.save(SyncNet(), tmp_path / "whole_module.model")  # a pickled module, not a state dict
    assert cli_main(["export-syncnet", str(tmp_path / "whole_module.model"), "--out", str(tmp_path / "a.onnx")]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "whole_module.model" in err and "Traceback" not in err
    save_file({"netcnnaud.0.weight": torch.zeros(3, 3)}, str(tmp_path / "other.safetensors"))
    assert cli_main(["export-syncnet", str(tmp_path / "other.safetensors"), "--out", str(tmp_path / "b.onnx")]) == 2
    assert "not SyncNet" in capsys.readouterr().err
    assert not (tmp_path / "a.onnx").exists() and not (tmp_path / "b.onnx").exists()


def test_scorer_refuses_other_files(tmp_path):
    (tmp_path / "syncnet_v2.model").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(SignalError, match="syncnet_v2.model: .*no unpickling"):
        SyncNetScorer.load(tmp_path / "syncnet_v2.model")
    with pytest.raises(SignalError, match="missing.onnx: .*export-syncnet"):
        SyncNetScorer.load(tmp_path / "missing.onnx")


def test_compute_signals_fills_syncnet_columns_when_weights_are_configured(onnx_weights, frontend_of):
    from tqscore.signals import compute_signals, load_signal_models

    from conftest import MEDIA

    models = load_signal_models(syncnet_weights=onnx_weights)
    fe = frontend_of(MEDIA / "generated" / "latentsync_demo1_out.mp4")
    row = compute_signals(fe, syncnet=models["syncnet"])
    assert -15 <= row["syncnet_offset_frames"] <= 15
    assert row["syncnet_lse_d"] > 0 and row["syncnet_lse_c"] >= 0
    assert row["dnsmos_ovrl"] is None  # not requested


def test_safetensors_weights_without_torch_say_what_to_do(weights, tmp_path, monkeypatch):
    model, _ = weights
    save_file(model.state_dict(), str(tmp_path / "s.safetensors"))
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="export-syncnet"):
        SyncNetScorer.load(tmp_path / "s.safetensors")


def test_syncnet_frames_are_a_25fps_run_even_when_the_standard_clip_samples():
    from tqscore.signals.syncnet_frames import consecutive_crops, grid_indices, is_25fps_run

    from conftest import MEDIA

    # 30 fps: every 6th frame dropped; 15 fps: frames repeated (as ffmpeg -r 25)
    np.testing.assert_array_equal(grid_indices(np.arange(60) / 30.0, 2.0)[0][:8], [0, 1, 2, 3, 4, 6, 7, 8])
    np.testing.assert_array_equal(grid_indices(np.arange(30) / 15.0, 2.0)[0][:8], [0, 0, 1, 1, 2, 3, 3, 4])
    assert not is_25fps_run(np.array([0, 0.04, 0.12, 0.16]))  # the standard clip of an 8-s video
    crops, times, found = consecutive_crops(MEDIA / "real" / "WDA_AlexandriaOcasioCortez_000.mp4")
    assert crops.shape == (150, 224, 224, 3) and is_25fps_run(times) and found.all()
