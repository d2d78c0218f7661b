"""Training end to end in-process: learning planted relations, weighting, resume, bundles."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tqscore.errors import TrainingError
from tqscore.layout import LABELS, STREAM_NAMES, LayoutVersionError
from tqscore.model.bundle import load_bundle
from tqscore.model.config import ModelConfig
from tqscore.training.config import TrainConfig, load_configs
from tqscore.training.pipeline import fit_on_train, run_training, split_features
from tqscore.training.synthetic import synthetic_feature_set
from tqscore.training.trainer import Trainer

FRAMES = 10
PLANTED = ("expression", "audio_quality", "cross_modal", "overall")


def tiny_model(**changes) -> ModelConfig:
    cfg = ModelConfig(name="tiny", d_model=16, n_layers=1, n_heads=2, ffn=32,
                      embed_hidden={m: 16 for m in STREAM_NAMES}, n_frames=FRAMES)
    return cfg.replace(**changes)


def tiny_train(**changes) -> TrainConfig:
    cfg = TrainConfig(epochs=4, batch_size=8, lr=3e-3, warmup_epochs=1, max_fit_frames=2000,
                      pca_components={"visual": 8, "audio": 8, "landmarks": 8})
    return cfg.replace(**changes)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small_set():
    return synthetic_feature_set(48, frames=FRAMES, real_frames=(6, FRAMES), seed=3)


@pytest.fixture(scope="module")
def prepared(small_set):
    cfg = tiny_train()
    splits = split_features(small_set, cfg.seed)
    data = small_set.preprocessed(fit_on_train(small_set, splits, cfg))
    return data, splits


def _trainer(prepared, tmp_path, model_cfg=None, **train_changes) -> Trainer:
    data, splits = prepared
    model_cfg = (model_cfg or tiny_model()).replace(input_dims={m: data.streams[m].shape[-1] for m in STREAM_NAMES})
    return Trainer(model_cfg, tiny_train(**train_changes), data.subset(splits.train), data.subset(splits.val), tmp_path)


def test_standard_config_learns_planted_relations(tmp_path):
    """The seed's `standard` architecture on CPU: r >= 0.8 on the planted dimensions of held-out clips.

    Clips are 10 frames long (the model's positional table follows) so that the run fits the CI budget.
    """
    frames = 10
    data = synthetic_feature_set(150, frames=frames, seed=0)
    assert 0.2 < (data.labels[:, LABELS.index("overall")] == -1).mean() < 0.35  # ~27 % missing
    model_cfg, train_cfg = load_configs("standard")
    model_cfg = model_cfg.replace(n_frames=frames)
    # float32: under cpu_bf16 "auto" a timing probe, and so the machine's load, would pick the
    # precision (test_cpu_bf16_autocast_runs_and_says_so covers the probe)
    train_cfg = train_cfg.replace(epochs=4, batch_size=16, warmup_epochs=1, max_fit_frames=4000, cpu_bf16=False)
    report = run_training(data, model_cfg, train_cfg, tmp_path / "bundle")
    dims = report["test"]["dimensions"]
    for label in PLANTED:
        assert dims[label]["metrics"]["pearson"]["value"] >= 0.8, (label, dims[label]["metrics"]["pearson"])
    lip = dims["lip_sync"]["metrics"]["pearson"]
    assert lip["value"] is None and "constant" in lip["reason"]
    # Uncertainty weighting: the learned sigmas moved away from their initial 1.0.
    last = report["history"][-1]
    assert max(abs(last[f"sigma_{k}"] - 1.0) for k in LABELS) > 0.05
    assert report["split"] == report["split"] | {"train": 120, "val": 15, "test": 15}
    assert set(report["variance_kept"]) == set(STREAM_NAMES) and all(0 < v <= 1 for v in report["variance_kept"].values())


def test_gradnorm_weights_move_and_sum_to_task_count(prepared, tmp_path):
    result = _trainer(prepared, tmp_path, weighting="gradnorm", gradnorm_lr=0.05).fit()
    for row in result.history:
        assert sum(row[f"w_{k}"] for k in LABELS) == pytest.approx(len(LABELS), rel=1e-4)
    assert max(abs(result.history[-1][f"w_{k}"] - 1.0) for k in LABELS) > 0.01


@pytest.mark.parametrize("weighting", ["uncertainty", "gradnorm"])
def test_resume_continues_identically(prepared, tmp_path, weighting):
    straight = _trainer(prepared, tmp_path / "a", weighting=weighting, accumulation_steps=2).fit()
    _trainer(prepared, tmp_path / "b", weighting=weighting, accumulation_steps=2).fit(stop_after=2)
    resumed = _trainer(prepared, tmp_path / "b", weighting=weighting, accumulation_steps=2).fit(resume=True)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    def rows(history):  # JSON text: NaN (the constant dimension's r) compares equal to itself
        return json.dumps([{k: v for k, v in r.items() if k != "seconds"} for r in history])

    assert rows(straight.history) == rows(resumed.history)


def test_resume_refuses_another_config(prepared, tmp_path):
    _trainer(prepared, tmp_path, epochs=1).fit()
    with pytest.raises(TrainingError, match="--resume"):  # a fresh run never overwrites a checkpoint
        _trainer(prepared, tmp_path, epochs=1).fit()
    with pytest.raises(TrainingError, match="another model/train config"):
        _trainer(prepared, tmp_path, epochs=1, lr=1.0).fit(resume=True)


def test_training_is_deterministic(prepared, tmp_path):
    a = _trainer(prepared, tmp_path / "a", epochs=2).fit().model.state_dict()
    b = _trainer(prepared, tmp_path / "b", epochs=2).fit().model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_gradient_checkpointing_trains_identically(prepared, tmp_path):
    plain = _trainer(prepared, tmp_path / "a", epochs=1).fit()
    ckpt = _trainer(prepared, tmp_path / "b", model_cfg=tiny_model(gradient_checkpointing=True), epochs=1).fit()
    a, b = plain.model.state_dict(), ckpt.model.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


@pytest.mark.parametrize("setting", [True, "auto"])
def test_cpu_bf16_autocast_runs_and_says_so(prepared, tmp_path, caplog, setting):
    with caplog.at_level("INFO", logger="tqscore.training.trainer"):
        result = _trainer(prepared, tmp_path, epochs=1, cpu_bf16=setting).fit()
    assert result.precision in (("bfloat16",) if setting is True else ("bfloat16", "float32"))
    assert "bf16 autocast on CPU is" in caplog.text
    assert np.isfinite(result.history[0]["val_loss"])


def test_early_stopping_and_best_checkpoint(prepared, tmp_path):
    frozen = {"lr": 0.0, "head_lr": {k: 0.0 for k in LABELS}, "weighting_lr": 0.0}
    result = _trainer(prepared, tmp_path, epochs=10, early_stopping_patience=2, **frozen).fit()
    assert result.stopped_early and len(result.history) == 3 and result.best_epoch == 1
    assert (tmp_path / "best.safetensors").is_file() and (tmp_path / "last.json").is_file()


def test_per_head_learning_rates_are_param_groups(prepared, tmp_path):
    trainer = _trainer(prepared, tmp_path, head_lr={"overall": 1e-2})
    groups = {g["name"]: g for g in trainer.optimizer.param_groups}
    assert groups["head.overall"]["base_lr"] == 1e-2 and groups["head.lip_sync"]["base_lr"] == trainer.cfg.lr
    assert groups["uncertainty"]["weight_decay"] == 0.0
    # warm-up then cosine: rises, peaks at 1, decays to min_lr_ratio
    factors = [trainer.lr_factor(s) for s in range(trainer.cfg.epochs * trainer.steps_per_epoch)]
    peak = int(np.argmax(factors))
    assert factors[peak] == pytest.approx(1.0, abs=0.05) and factors[0] < factors[peak] and factors[-1] < 0.2


def test_bundle_roundtrip_predicts_the_same_and_refuses_other_layout(small_set, tmp_path):
    run_training(small_set, tiny_model(), tiny_train(epochs=2), tmp_path / "bundle")
    bundle = load_bundle(tmp_path / "bundle")
    meta = json.loads((tmp_path / "bundle" / "meta.json").read_text())
    assert meta["labels"] == list(LABELS) and meta["layout_version"] >= 1
    first = bundle.predict(small_set.streams, small_set.frame_mask)
    again = load_bundle(tmp_path / "bundle").predict(small_set.streams, small_set.frame_mask)
    np.testing.assert_array_equal(first, again)
    other_batches = bundle.predict(small_set.streams, small_set.frame_mask, batch_size=7)
    np.testing.assert_allclose(first, other_batches, atol=1e-5)  # BLAS blocking differs by batch size
    assert first.shape == (len(small_set), len(LABELS)) and ((first >= 1) & (first <= 5)).all()
    # The report's test metrics come from the same weights: recompute overall r on the test clips.
    report = json.loads((tmp_path / "bundle" / "training_report.json").read_text())
    test_idx = [small_set.keys.index(k) for k in report["split"]["test_videos"]]
    k = LABELS.index("audio_quality")  # never missing in the synthetic set
    r = np.corrcoef(small_set.labels[test_idx, k], first[test_idx, k])[0, 1]
    stored = report["test"]["dimensions"]["audio_quality"]["metrics"]["pearson"]["value"]
    assert stored == pytest.approx(r, abs=1e-4)
    meta["layout_version"] = 999
    (tmp_path / "bundle" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(LayoutVersionError, match="feature-layout version 999"):
        load_bundle(tmp_path / "bundle")


def test_one_dimension_dataset_trains_with_the_others_masked(small_set, tmp_path):
    # THQA-NTIRE style: only `overall` is labelled.
    from tqscore.training.data import FeatureSet

    labels = np.full_like(small_set.labels, -1.0)
    k = LABELS.index("overall")
    labels[:, k] = small_set.labels[:, k]
    data = FeatureSet(small_set.keys, small_set.streams, small_set.frame_mask, labels)
    report = run_training(data, tiny_model(), tiny_train(epochs=2), tmp_path / "bundle")
    dims = report["test"]["dimensions"]
    assert dims["overall"]["n"] > 0 and all(dims[o]["n"] == 0 for o in LABELS if o != "overall")
    assert "no labelled samples" in dims["expression"]["metrics"]["pearson"]["reason"]
    assert all(f"train_mse_{o}" not in report["history"][0] for o in LABELS if o != "overall")
