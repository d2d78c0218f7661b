"""The model bundle: everything needed to score from raw feature records, in one folder.

    BUNDLE/
      model.safetensors          FusionModel state dict
      preprocessing.safetensors  per modality: median, mean, scale, components, pca_mean, variance_kept
      config.yaml                model: (ModelConfig) and train: (TrainConfig) sections
      meta.json                  bundle format, feature-layout version, label names, tqscore version, ...
      training_report.json       training history, split sizes, test metrics (optional)

safetensors for every array (no pickle, memory-mapped loads); YAML/JSON for the rest so a
person can read what a bundle is. ``load_bundle`` refuses a bundle made for another
feature-layout version: its preprocessing and first layers expect other inputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy

from tqscore import __version__
from tqscore.config import load_yaml
from tqscore.errors import ModelError
from tqscore.io import json_default
from tqscore.layout import LABELS, LAYOUT_VERSION, STREAM_NAMES, check_layout_version
from tqscore.model.config import ModelConfig, ModelSections
from tqscore.model.preprocess import Preprocessing

BUNDLE_FORMAT = 1
MODEL_FILE = "model.safetensors"
PREPROCESSING_FILE = "preprocessing.safetensors"
CONFIG_FILE = "config.yaml"
META_FILE = "meta.json"
REPORT_FILE = "training_report.json"
# The files that define what a bundle scores: its id hashes these, not the (large, resumable)
# checkpoints or the report.
MODEL_FILES = (MODEL_FILE, PREPROCESSING_FILE, CONFIG_FILE, META_FILE)


class BundleError(ModelError):
    """A bundle folder is incomplete or inconsistent; the message names the file."""


@dataclass
class Bundle:
    model: Any  # tqscore.model.fusion.FusionModel, eval mode
    preprocessing: Preprocessing
    config: ModelConfig
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.meta.get("labels", LABELS))

    def predict(self, streams: dict[str, np.ndarray], frame_mask: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Raw ``{name: (N, T, width)}`` features and (N, T) frame masks -> (N, 5) scores."""
        import torch

        device = next(self.model.parameters()).device
        out = []
        self.model.eval()
        with torch.no_grad():
            for i in range(0, len(frame_mask), batch_size):
                x = self.preprocessing.apply({m: np.asarray(streams[m][i : i + batch_size], np.float32) for m in STREAM_NAMES})
                inputs = {m: torch.from_numpy(x[m]).to(device) for m in STREAM_NAMES}
                mask = torch.from_numpy(np.asarray(frame_mask[i : i + batch_size], np.float32)).to(device)
                out.append(self.model(**inputs, frame_mask=mask).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(LABELS)), np.float32)


def save_bundle(
    path: str | Path,
    model,
    preprocessing: Preprocessing,
    config: ModelConfig,
    train_config: dict[str, Any] | None = None,
    report: dict[str, Any] | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if config.input_dims != preprocessing.out_widths:
        raise BundleError(f"model input widths {config.input_dims} differ from the preprocessing outputs {preprocessing.out_widths}")
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(path / MODEL_FILE))
    save_numpy(preprocessing.to_arrays(), str(path / PREPROCESSING_FILE))
    sections = {"model": config.to_dict()} | ({"train": train_config} if train_config else {})
    (path / CONFIG_FILE).write_text(yaml.safe_dump(sections, sort_keys=False))
    meta = {
        "bundle_format": BUNDLE_FORMAT,
        "layout_version": LAYOUT_VERSION,
        "labels": list(LABELS),
        "streams": list(STREAM_NAMES),
        "tqscore_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "variance_kept": preprocessing.variance_kept,
    } | (extra_meta or {})
    (path / META_FILE).write_text(json.dumps(meta, indent=2))
    if report is not None:
        (path / REPORT_FILE).write_text(json.dumps(report, indent=2, allow_nan=False, default=json_default))
    return path


def read_meta(path: str | Path) -> dict[str, Any]:
    """The bundle's meta.json, with its layout version checked."""
    path = Path(path)
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise BundleError(f"{path}: not a model bundle (no {META_FILE})")
    meta = json.loads(meta_file.read_text())
    check_layout_version(meta.get("layout_version"), f"model bundle {path}")
    if tuple(meta.get("labels", ())) != LABELS:
        raise BundleError(f"{meta_file}: labels {meta.get('labels')} differ from this tqscore's {list(LABELS)}")
    return meta


def load_bundle(path: str | Path, device: str = "cpu") -> Bundle:
    import torch
    from safetensors.torch import load_file

    from tqscore.model.fusion import FusionModel

    path = Path(path)
    meta = read_meta(path)
    for name in (MODEL_FILE, PREPROCESSING_FILE, CONFIG_FILE):
        if not (path / name).is_file():
            raise BundleError(f"{path}: bundle is missing {name}")
    sections = load_yaml(path / CONFIG_FILE, ModelSections)
    config = sections.model
    preprocessing = Preprocessing.from_arrays(load_numpy(str(path / PREPROCESSING_FILE)), str(path / PREPROCESSING_FILE))
    if config.input_dims != preprocessing.out_widths:
        raise BundleError(f"{path}: config input widths {config.input_dims} differ from the preprocessing {preprocessing.out_widths}")
    model = FusionModel(config)
    try:
        model.load_state_dict(load_file(str(path / MODEL_FILE)))
    except RuntimeError as exc:
        raise BundleError(f"{path / MODEL_FILE}: weights do not match {CONFIG_FILE}: {exc}") from exc
    model.to(torch.device(device)).eval()
    meta["train_config"] = sections.train or None
    return Bundle(model, preprocessing, config, meta, path)
