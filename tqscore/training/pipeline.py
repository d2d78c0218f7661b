"""From a labelled feature set to a model bundle: split, fit preprocessing, train, test, save."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tqscore.errors import TrainingError
from tqscore.layout import LABELS
from tqscore.model.bundle import save_bundle
from tqscore.model.config import ModelConfig
from tqscore.model.preprocess import Preprocessing, fit_from_frames, fit_rows
from tqscore.training.config import TrainConfig
from tqscore.training.data import FeatureSet, RecordSet
from tqscore.training.evaluate import evaluate_predictions, json_safe
from tqscore.training.metrics import N_BOOTSTRAP
from tqscore.training.split import stratified_split
from tqscore.training.trainer import Trainer, TrainResult, predict

log = logging.getLogger(__name__)


@dataclass
class Splits:
    """Clip indices of the stratified split, and the preprocessing fitted on the training clips."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_features(data: FeatureSet | RecordSet, seed: int) -> Splits:
    if len(data) < 10:
        raise TrainingError(f"{len(data)} labelled clips are too few for an 80/10/10 split; need at least 10")
    splits = Splits(*stratified_split(data.labels, data.present, seed=seed))
    log.info("split %d/%d/%d (train/val/test), stratified on label availability x overall tercile",
             len(splits.train), len(splits.val), len(splits.test))
    return splits


def fit_on_train(data: FeatureSet | RecordSet, splits: Splits, cfg: TrainConfig) -> Preprocessing:
    rows = fit_rows(data.frame_mask, splits.train, cfg.max_fit_frames, cfg.seed)
    return fit_from_frames(data.gather, rows, cfg.pca_components, cfg.seed)


def train_model(
    model_cfg: ModelConfig, cfg: TrainConfig, data: FeatureSet, splits: Splits, work_dir: Path,
    device: str = "cpu", resume: bool = False, stop_after: int | None = None, n_bootstrap: int = N_BOOTSTRAP,
) -> tuple[ModelConfig, TrainResult, dict | None]:
    """Train on a preprocessed feature set; returns the model config used, the result and the test report
    (None when ``stop_after`` ended the run before the last epoch)."""
    model_cfg = model_cfg.replace(input_dims={m: data.streams[m].shape[-1] for m in data.streams})
    train, val, test = (data.subset(idx) for idx in (splits.train, splits.val, splits.test))
    result = Trainer(model_cfg, cfg, train, val, work_dir, device).fit(resume=resume, stop_after=stop_after)
    if not result.finished:
        return model_cfg, result, None
    preds = predict(result.model, test, cfg.eval_batch_size, device)
    return model_cfg, result, evaluate_predictions(test.labels, preds, n_bootstrap)


def run_training(
    data: FeatureSet | RecordSet, model_cfg: ModelConfig, cfg: TrainConfig, out: str | Path, device: str = "cpu",
    resume: bool = False, stop_after: int | None = None,
) -> dict | None:
    """The ``tqscore train`` pipeline; writes the bundle to ``out`` (checkpoints in ``out/checkpoints``).

    With ``stop_after`` the run may end early with only its resumable checkpoint (returns None).
    """
    out = Path(out)
    splits = split_features(data, cfg.seed)
    prep = fit_on_train(data, splits, cfg)
    model_cfg, result, test_report = train_model(
        model_cfg, cfg, data.preprocessed(prep), splits, out / "checkpoints", device, resume, stop_after
    )
    if test_report is None:
        log.info("stopped after epoch %d of %d; continue with --resume", result.history[-1]["epoch"], cfg.epochs)
        return None
    report = {
        "config": model_cfg.name,
        "split": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test), "seed": cfg.seed,
                  "stratified_on": "label availability pattern x overall tercile",
                  "test_videos": [data.keys[i] for i in splits.test]},
        "variance_kept": prep.variance_kept,
        "precision": result.precision,
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "stopped_early": result.stopped_early,
        "history": result.history,
        "test": test_report,
    }
    extra = {"label_means": dict(zip(LABELS, result.label_means)), "label_smoothing": cfg.label_smoothing}
    save_bundle(out, result.model, prep, model_cfg, cfg.to_dict(), json_safe(report), extra)
    log.info("bundle written to %s; test mean Pearson r %s", out, test_report["mean_pearson"])
    return report
