"""`tqscore train`, `evaluate` and `ablate` end to end on a tiny folder of feature records."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from tqscore.cli import main
from tqscore.features.manifest import MANIFEST_NAME, ManifestEntry, append_entry
from tqscore.features.record import FeatureRecord, save_record
from tqscore.layout import FACE_MASK, FRAME_MASK, LABELS, MASK_DTYPE, STREAM_NAMES
from tqscore.training.metrics import METRICS
from tqscore.training.synthetic import synthetic_feature_set

N_CLIPS = 30


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Records as `tqscore extract` writes them (records/ + manifest), labels, two tiny configs."""
    root = tmp_path_factory.mktemp("training-cli")
    data = synthetic_feature_set(N_CLIPS, real_frames=(90, 150), seed=7)
    features = root / "features"
    for i, key in enumerate(data.keys):
        arrays = {m: data.streams[m][i] for m in STREAM_NAMES}
        arrays[FRAME_MASK] = data.frame_mask[i].astype(MASK_DTYPE)
        arrays[FACE_MASK] = data.frame_mask[i].astype(MASK_DTYPE)
        rel = f"sub/{key}" if i % 2 else key
        save_record(features / "records" / f"{rel}.safetensors", FeatureRecord(arrays, {}))
        append_entry(features / MANIFEST_NAME, ManifestEntry(rel, "/videos", f"records/{rel}.safetensors", "ok", None, 1, 1, {}))
    append_entry(features / MANIFEST_NAME, ManifestEntry("broken.mp4", "/videos", None, "error", "bad file", 1, 1, {}))
    # Label table with its own column names, listing videos by file name only.
    header = "Clip," + ",".join(f"{k}_mos" for k in LABELS)
    lines = [header] + [key + "," + ",".join("" if v == -1 else f"{v:.3f}" for v in row)
                        for key, row in zip(data.keys, data.labels)]
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    label_map = "Clip=video," + ",".join(f"{k}_mos={k}" for k in LABELS)
    for name, d in (("tiny", 16), ("tiny_std", 8)):
        cfg = {"model": {"name": name, "d_model": d, "n_layers": 1, "n_heads": 2, "ffn": 2 * d,
                         "embed_hidden": {m: 16 for m in STREAM_NAMES}},
               "train": {"epochs": 2, "batch_size": 8, "lr": 3e-3, "warmup_epochs": 1, "max_fit_frames": 3000,
                         "pca_components": {"visual": 8, "audio": 8, "landmarks": 8, "aus": 17}}}
        (root / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
    return root, label_map


def test_records_stream_from_disk_like_arrays_in_memory(workspace):
    """Fitting on frames gathered record by record equals fitting on the stacked arrays."""
    from tqscore.training.config import TrainConfig
    from tqscore.training.data import load_feature_set
    from tqscore.training.pipeline import fit_on_train, split_features

    root, label_map = workspace
    on_disk = load_feature_set(root / "features", root / "labels.csv", label_map)
    memory = synthetic_feature_set(N_CLIPS, real_frames=(90, 150), seed=7)
    memory = memory.subset([memory.keys.index(k.split("/")[-1]) for k in on_disk.keys])
    np.testing.assert_array_equal(on_disk.frame_mask, memory.frame_mask)
    cfg = TrainConfig(max_fit_frames=500, pca_components={"visual": 4, "audio": 4, "landmarks": 4})
    splits = split_features(on_disk, cfg.seed)
    a, b = fit_on_train(on_disk, splits, cfg).to_arrays(), fit_on_train(memory, splits, cfg).to_arrays()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    prep = fit_on_train(memory, splits, cfg)
    x, y = on_disk.preprocessed(prep, chunk=7), memory.preprocessed(prep)
    assert all(np.array_equal(x.streams[m], y.streams[m]) for m in STREAM_NAMES)


def _data_args(root, label_map):
    return ["--features", str(root / "features"), "--labels", str(root / "labels.csv"), "--label-map", label_map]


def test_train_then_evaluate(workspace, capsys):
    root, label_map = workspace
    bundle = root / "bundle"
    code = main(["train", *_data_args(root, label_map), "--config", str(root / "tiny.yaml"), "--out", str(bundle),
                 "--device", "cpu", "--epochs", "3"])
    assert code == 0
    assert "test mean Pearson r" in capsys.readouterr().out
    for name in ("model.safetensors", "preprocessing.safetensors", "config.yaml", "meta.json", "training_report.json"):
        assert (bundle / name).is_file(), name
    report = json.loads((bundle / "training_report.json").read_text())
    assert len(report["history"]) == 3 and report["split"]["train"] + report["split"]["val"] + report["split"]["test"] == N_CLIPS
    assert yaml.safe_load((bundle / "config.yaml").read_text())["train"]["epochs"] == 3

    out = root / "eval" / "report"
    assert main(["evaluate", "--model", str(bundle), *_data_args(root, label_map), "--out", str(out), "--device", "cpu"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["n_clips"] == N_CLIPS and set(result["dimensions"]) == set(LABELS)
    for label, dim in result["dimensions"].items():
        assert set(dim["metrics"]) == set(METRICS)
        for name, m in dim["metrics"].items():
            if m["value"] is not None and m["ci95"][0] is not None:
                assert m["ci95"][0] <= m["value"] <= m["ci95"][1], (label, name)
    assert "constant" in result["dimensions"]["lip_sync"]["metrics"]["pearson"]["reason"]
    markdown = out.with_suffix(".md").read_text()
    assert "| Pearson r |" in markdown and "Undefined values" in markdown


def test_resume_after_interrupt_continues(workspace):
    root, label_map = workspace
    args = [*_data_args(root, label_map), "--config", str(root / "tiny.yaml"), "--device", "cpu", "--epochs", "2"]
    assert main(["train", *args, "--out", str(root / "full")]) == 0
    # Interrupted after one epoch, then resumed: the same weights as the uninterrupted run.
    assert main(["train", *args, "--out", str(root / "resumed"), "--stop-after", "1"]) == 0
    assert not (root / "resumed" / "model.safetensors").exists()
    assert main(["train", *args, "--out", str(root / "resumed"), "--resume"]) == 0
    a = (root / "full" / "model.safetensors").read_bytes()
    assert a == (root / "resumed" / "model.safetensors").read_bytes()


def test_ablate_table(workspace, capsys):
    root, label_map = workspace
    out = root / "ablate"
    code = main(["ablate", *_data_args(root, label_map), "--config", str(root / "tiny.yaml"),
                 "--standard-config", str(root / "tiny_std.yaml"), "--out", str(out), "--device", "cpu", "--epochs", "1"])
    assert code == 0
    table = json.loads((out / "ablation.json").read_text())
    assert [r["experiment"] for r in table["rows"]] == [f"E{i}" for i in range(9)]
    e0 = table["rows"][0]
    assert e0["change"] == 0.0
    for r in table["rows"]:
        assert r["mean_pearson"] is None or -1 <= r["mean_pearson"] <= 1
        if r["mean_pearson"] is not None:
            assert r["change"] == pytest.approx(r["mean_pearson"] - e0["mean_pearson"])
    assert "| E6 | no PCA" in capsys.readouterr().out


def test_bad_inputs_exit_2_with_the_file_named(workspace, tmp_path, capsys):
    root, label_map = workspace
    missing = tmp_path / "nope.csv"
    code = main(["train", "--features", str(root / "features"), "--labels", str(missing), "--out", str(tmp_path / "b"),
                 "--config", str(root / "tiny.yaml"), "--device", "cpu"])
    assert code == 2 and str(missing) in capsys.readouterr().err
    code = main(["evaluate", "--model", str(tmp_path), *_data_args(root, label_map), "--out", str(tmp_path / "r")])
    assert code == 2 and "not a model bundle" in capsys.readouterr().err
    assert not np.any([p.name.startswith("r.") for p in tmp_path.iterdir()])
