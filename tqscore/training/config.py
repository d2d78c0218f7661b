"""The training hyper-parameters: the ``train:`` section of a config YAML (``tqscore/configs``).

One pydantic model, read with the model's ``model:`` section from the same file through
:func:`tqscore.config.load_yaml`, so that a config name (``standard`` / ``optimized``) fixes
both and a bad field is a ConfigError naming the file; CLI flags override a few fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from tqscore.config import ConfigModel, load_yaml, validate
from tqscore.layout import LABELS, STREAMS
from tqscore.model.config import ModelConfig, config_path

def _seed_fixed_weights() -> dict[str, float]:
    # docs/method.md §9, the seed's hand-set weights.
    return {"lip_sync": 0.8, "expression": 1.2, "audio_quality": 1.0, "cross_modal": 1.5, "overall": 1.3}


def _layout_pca() -> dict[str, int | None]:
    return {s.name: s.pca_components for s in STREAMS}


class TrainConfig(ConfigModel):
    epochs: int = Field(150, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-4, ge=0.0)  # AdamW, shared layers
    head_lr: dict[str, float] = Field(default_factory=dict)  # per-task head learning rates; missing -> lr
    weighting_lr: float = Field(1e-2, ge=0.0)  # uncertainty log-sigmas (no weight decay)
    weight_decay: float = Field(0.01, ge=0.0)
    warmup_epochs: float = Field(5.0, ge=0.0)  # linear warm-up, then cosine annealing to min_lr_ratio * lr
    min_lr_ratio: float = Field(0.01, ge=0.0, le=1.0)
    accumulation_steps: int = Field(1, ge=1)  # optimizer step every N batches (effective batch N x batch_size)
    grad_clip: float = Field(1.0, ge=0.0)  # max global gradient norm; 0 = off
    # Regression label smoothing: train on (1 - eps) * y + eps * mean_k(train labels of task k).
    label_smoothing: float = Field(0.05, ge=0.0, lt=1.0)
    weighting: Literal["fixed", "uncertainty", "gradnorm"] = "uncertainty"
    fixed_weights: dict[str, float] = Field(default_factory=_seed_fixed_weights)
    gradnorm_alpha: float = 1.5
    gradnorm_lr: float = Field(0.025, ge=0.0)
    early_stopping_patience: int = Field(20, ge=1)  # epochs without a better validation loss
    amp: bool = True  # float16 autocast + dynamic loss scaling on CUDA
    cpu_bf16: bool | Literal["auto"] = False  # bf16 autocast on CPU; "auto" times both on the first batch
    seed: int = 42
    pca_components: dict[str, int | None] = Field(default_factory=_layout_pca)  # None: no PCA
    max_fit_frames: int = Field(200_000, ge=1)  # frames sampled to fit the preprocessing
    eval_batch_size: int = Field(64, ge=1)

    @field_validator("head_lr", "fixed_weights")
    @classmethod
    def _known_dimensions(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(LABELS)
        if unknown:
            raise ValueError(f"unknown dimensions {sorted(unknown)}; known: {list(LABELS)}")
        return value

    @field_validator("fixed_weights")
    @classmethod
    def _every_dimension_weighted(cls, value: dict[str, float]) -> dict[str, float]:
        return {k: float(value.get(k, 1.0)) for k in LABELS}

    @field_validator("pca_components")
    @classmethod
    def _every_modality(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        unknown = set(value) - {s.name for s in STREAMS}
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}; known: {[s.name for s in STREAMS]}")
        return _layout_pca() | value

    def lr_for_head(self, label: str) -> float:
        return float(self.head_lr.get(label, self.lr))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "train config") -> TrainConfig:
        return validate(data, cls, source)


class ConfigSections(ConfigModel):
    """A whole config file: ``model:`` and ``train:``, both checked."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)


def load_configs(name_or_path: str | Path = "optimized") -> tuple[ModelConfig, TrainConfig]:
    """The ``model:`` and ``train:`` sections of a config (by name or path)."""
    sections = load_yaml(config_path(name_or_path), ConfigSections)
    return sections.model, sections.train
