"""`tqscore export --formats onnx` on tiny models: graphs, manifest, ONNX Runtime parity, reruns, errors."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch
from tqscore.testing.export_support import make_bundle

from tqscore.cli import main
from tqscore.export.graphs import GRAPHS
from tqscore.export.manifest import ManifestError, read_manifest, sha256_file
from tqscore.layout import FEATURE_WIDTH, LABELS, T
from tqscore.onnx_export import OPSET

REL_TOL = 1e-4


def relative_error(found, reference):
    return float(np.abs(found - reference).max() / np.abs(reference).max())


@pytest.fixture(scope="module")
def backbones(tiny_resnet_dir, tiny_hubert_dir):
    return ["--resnet", str(tiny_resnet_dir), "--hubert", str(tiny_hubert_dir)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, backbones):
    root = tmp_path_factory.mktemp("export")
    bundle = make_bundle(root / "bundle")
    out = root / "engines"
    assert main(["export", "--model", str(bundle), "--out", str(out), "--formats", "onnx", *backbones]) == 0
    return bundle, out


def ort_run(path, feeds):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def test_visual_graph_matches_pytorch_at_other_batch_sizes(exported, tiny_resnet_dir):
    from tqscore.features.backbones import VisualBackbone

    backbone = VisualBackbone(str(tiny_resnet_dir))
    rng = np.random.default_rng(0)
    for n in (1, 5):
        crops = rng.standard_normal((n, 3, 224, 224), np.float32)
        found = ort_run(exported[1] / GRAPHS["visual"].file, {"pixel_values": crops})
        assert found.shape == (n, 2048)
        assert relative_error(found, backbone(crops)) <= REL_TOL


def test_audio_graph_matches_pytorch_at_other_batches_and_lengths(exported, tiny_hubert_dir):
    from tqscore.features.backbones import AudioBackbone

    model = AudioBackbone(str(tiny_hubert_dir)).model
    rng = np.random.default_rng(1)
    for b, samples in ((1, 24_000), (3, 96_000)):
        wave = (0.1 * rng.standard_normal((b, samples))).astype(np.float32)
        found = ort_run(exported[1] / GRAPHS["audio"].file, {"input_values": wave})
        with torch.no_grad():
            reference = model(input_values=torch.from_numpy(wave)).last_hidden_state.numpy()
        assert found.shape == reference.shape == (b, (samples - 400) // 320 + 1, 768)
        assert relative_error(found, reference) <= REL_TOL


def test_visual_graph_on_real_frames(exported, tiny_resnet_dir, media_dir):
    """Centre crops of a real clip's frames, normalised as the runtime does, through both paths."""
    from tqscore.features.backbones import VisualBackbone
    from tqscore.features.crops import centre_box, crop_square, normalize
    from tqscore.media import open_clip

    with open_clip(media_dir / "real" / "WDA_KatieHill_000.mp4") as clip:
        frames = next(clip.iter_frames(chunk=4))
    crops = normalize(np.stack([crop_square(f, centre_box(f.shape[1], f.shape[0])) for f in frames]))
    found = ort_run(exported[1] / GRAPHS["visual"].file, {"pixel_values": crops})
    assert relative_error(found, VisualBackbone(str(tiny_resnet_dir))(crops)) <= REL_TOL


def test_audio_graph_on_real_speech(exported, tiny_hubert_dir, media_dir):
    """Real speech (the SadTalker driving audio, 8 s) through the graph and through PyTorch."""
    from tqscore.features.backbones import AudioBackbone
    from tqscore.media import load_audio

    wave, has_audio = load_audio(media_dir / "audio" / "RD_Radio31_000.wav")
    assert has_audio and len(wave) > 7 * 16_000
    wave = wave[None].astype(np.float32)
    found = ort_run(exported[1] / GRAPHS["audio"].file, {"input_values": wave})
    with torch.no_grad():
        reference = AudioBackbone(str(tiny_hubert_dir)).model(input_values=torch.from_numpy(wave)).last_hidden_state.numpy()
    assert relative_error(found, reference) <= REL_TOL


def test_fusion_graph_matches_bundle_predict(exported):
    """The folded graph against the training-side path: preprocessing + PyTorch model, NaNs included."""
    from tqscore.export.parity import fusion_inputs
    from tqscore.layout import STREAM_NAMES, STREAM_WIDTHS
    from tqscore.model.bundle import load_bundle

    bundle = load_bundle(exported[0])
    inputs = fusion_inputs(bundle.preprocessing, batch=5, seed=11)
    found = ort_run(exported[1] / GRAPHS["fusion"].file, inputs)
    splits = np.split(inputs["features"], np.cumsum([STREAM_WIDTHS[m] for m in STREAM_NAMES])[:-1], axis=-1)
    reference = bundle.predict(dict(zip(STREAM_NAMES, splits)), inputs["frame_mask"])
    assert found.shape == (5, len(LABELS))
    assert relative_error(found, reference) <= REL_TOL


def test_manifest_describes_the_folder(exported, tiny_resnet_dir):
    bundle, out = exported
    manifest = read_manifest(out)
    assert set(manifest.graphs) == set(GRAPHS)
    for name, entry in manifest.graphs.items():
        assert entry.sha256 == sha256_file(out / entry.file)
        assert entry.opset == OPSET and entry.precision == "fp32"
        assert [t.name for t in entry.inputs] == [t.name for t in GRAPHS[name].inputs]
        parity = manifest.parity[name]
        assert parity["onnx_vs_torch_max_rel"] <= REL_TOL, name
    assert manifest.graphs["fusion"].inputs[0].shape == ["batch", T, FEATURE_WIDTH]
    assert manifest.graphs["audio"].outputs[0].shape == ["batch", "steps", 768]
    assert manifest.parity["fusion"]["onnx_vs_unfolded_float64_max_abs"] <= 1e-5
    assert manifest.bundle.path == str(bundle.resolve()) and len(manifest.bundle.sha256) == 64
    assert manifest.backbones["visual"]["source"] == str(tiny_resnet_dir)
    assert manifest.backbones["audio"]["normalize"] is False
    assert {"torch", "onnx", "onnxruntime", "transformers"} <= set(manifest.versions)
    assert manifest.engines == {}  # no GPU here: no engine was built or listed
    assert json.loads((out / "manifest.json").read_text())["model_id"] == manifest.model_id


def test_engine_set_serves_the_folder_on_cpu(exported):
    from tqscore.export.parity import fusion_inputs
    from tqscore.model.bundle import load_bundle
    from tqscore.runtime.engines import EngineSet

    engines = EngineSet.load(exported[1], device="cpu")
    assert engines.backend == "onnxruntime" and engines.providers == ["CPUExecutionProvider"]
    assert engines.model_id == read_manifest(exported[1]).model_id
    assert engines.engine_id.startswith(read_manifest(exported[1]).digest())
    assert EngineSet.load(exported[1], device="auto").engine_id == engines.engine_id  # stable for resume keys
    bundle = load_bundle(exported[0])
    inputs = fusion_inputs(bundle.preprocessing, batch=11, seed=2)  # more than one chunk of 8
    direct = ort_run(exported[1] / GRAPHS["fusion"].file, inputs)
    assert np.abs(engines.fusion(inputs["features"], inputs["frame_mask"].astype(np.uint8)) - direct).max() <= 1e-6
    assert engines.visual(np.zeros((0, 3, 224, 224), np.float32)).shape == (0, 2048)
    assert engines.audio(np.zeros((2, 16_000), np.float32)).shape == (2, 49, 768)
    with pytest.raises(ValueError, match=r"\(n, 3, 224, 224\)"):
        engines.visual(np.zeros((2, 224, 224, 3), np.float32))
    with pytest.raises(ValueError, match="frame_mask"):
        engines.fusion(inputs["features"], inputs["frame_mask"][:, :10])


def test_rerun_keeps_current_files_and_reexports_a_changed_bundle(exported, backbones, tmp_path):
    bundle, out = exported
    out = shutil.copytree(out, tmp_path / "engines")
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.onnx")}
    args = ["export", "--model", str(bundle), "--out", str(out), "--formats", "onnx", *backbones]
    assert main(args) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.onnx")} == before
    (bundle / "checkpoints").mkdir(exist_ok=True)
    (bundle / "checkpoints" / "resumed-later.safetensors").write_bytes(b"not part of the model")
    model_id = read_manifest(out).model_id
    assert main(args) == 0  # checkpoints do not define the model: nothing is re-exported
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.onnx")} == before
    assert read_manifest(out).model_id == model_id
    retrained = make_bundle(tmp_path / "bundle2", seed=9)
    old_fusion = read_manifest(out).graphs["fusion"].sha256
    assert main(["export", "--model", str(retrained), "--out", str(out), "--formats", "onnx", *backbones]) == 0
    manifest = read_manifest(out)
    assert manifest.graphs["fusion"].sha256 != old_fusion
    assert manifest.bundle.path == str(retrained.resolve())
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.onnx") if p.name != "fusion.onnx"} == {
        k: v for k, v in before.items() if k != "fusion.onnx"
    }


def test_modified_or_incomplete_folder_is_refused(exported, tmp_path):
    from tqscore.runtime.engines import EngineSet

    out = shutil.copytree(exported[1], tmp_path / "engines")
    with open(out / "fusion.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ManifestError, match=r"fusion\.onnx: contents differ from the manifest"):
        EngineSet.load(out, device="cpu")
    (out / "fusion.onnx").unlink()
    with pytest.raises(ManifestError, match=r"fusion\.onnx: listed in the manifest as graph 'fusion' but missing"):
        EngineSet.load(out, device="cpu")
    (out / "manifest.json").write_text("{}")
    with pytest.raises(ManifestError, match="manifest version None"):
        EngineSet.load(out, device="cpu")
    with pytest.raises(ManifestError, match="not an engine folder"):
        EngineSet.load(tmp_path, device="cpu")


def test_cli_errors_name_the_problem(exported, backbones, tmp_path, capsys):
    bundle, _ = exported
    base = ["export", "--out", str(tmp_path / "out"), *backbones]
    assert main([*base, "--model", str(bundle), "--formats", "onnx,bogus"]) == 2
    assert "unknown format(s) ['bogus']; choose from onnx, onnx-int8, onnx-fp16, engine" in capsys.readouterr().err
    assert main([*base, "--model", str(tmp_path / "missing"), "--formats", "onnx"]) == 2
    assert f"{tmp_path / 'missing'}: not a model bundle" in capsys.readouterr().err
    assert main([*base, "--model", str(bundle), "--resnet", str(tmp_path / "nope"), "--formats", "onnx"]) == 2
    assert "no model folder at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--model", str(bundle), "--batch-sizes", "0,64"])
    assert "batch sizes must be positive" in capsys.readouterr().err


def test_engine_format_without_tensorrt(exported, backbones, tmp_path, capsys, caplog):
    pytest.importorskip("onnxruntime")
    try:
        import tensorrt  # noqa: F401

        pytest.skip("tensorrt is installed here")
    except ImportError:
        pass
    from tqscore.export.formats import select_formats

    assert main(["export", "--model", str(exported[0]), "--out", str(tmp_path / "o"), "--formats", "engine", *backbones]) == 2
    assert "format 'engine' cannot be built on this machine: TensorRT is not installed" in capsys.readouterr().err
    assert not (tmp_path / "o" / "manifest.json").exists()
    with caplog.at_level(logging.WARNING):
        assert [f.name for f in select_formats(None)] == ["onnx", "onnx-fp16"]
    assert "skipping format 'engine': TensorRT is not installed" in caplog.text
