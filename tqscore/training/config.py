"""The training hyper-parameters: the ``train:`` section of a config YAML (``tqscore/configs``).

One dataclass, read from the same file as the model's ``model:`` section so that a config name
(``standard`` / ``optimized``) fixes both; CLI flags override a few fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqscore.layout import LABELS, STREAMS
from tqscore.model.config import ModelConfig, read_config_file

WEIGHTINGS = ("fixed", "uncertainty", "gradnorm")


def _seed_fixed_weights() -> dict[str, float]:
    # SPEC item 9, the seed's hand-set weights.
    return {"lip_sync": 0.8, "expression": 1.2, "audio_quality": 1.0, "cross_modal": 1.5, "overall": 1.3}


def _layout_pca() -> dict[str, int | None]:
    return {s.name: s.pca_components for s in STREAMS}


@dataclass
class TrainConfig:
    epochs: int = 150
    batch_size: int = 32
    lr: float = 1e-4  # AdamW, shared layers
    head_lr: dict[str, float] = field(default_factory=dict)  # per-task head learning rates; missing -> lr
    weighting_lr: float = 1e-2  # uncertainty log-sigmas (no weight decay)
    weight_decay: float = 0.01
    warmup_epochs: float = 5.0  # linear warm-up, then cosine annealing to min_lr_ratio * lr
    min_lr_ratio: float = 0.01
    accumulation_steps: int = 1  # optimizer step every N batches (effective batch N x batch_size)
    grad_clip: float = 1.0  # max global gradient norm; 0 = off
    # Regression label smoothing: train on (1 - eps) * y + eps * mean_k(train labels of task k).
    label_smoothing: float = 0.05
    weighting: Literal["fixed", "uncertainty", "gradnorm"] = "uncertainty"
    fixed_weights: dict[str, float] = field(default_factory=_seed_fixed_weights)
    gradnorm_alpha: float = 1.5
    gradnorm_lr: float = 0.025
    early_stopping_patience: int = 20  # epochs without a better validation loss
    amp: bool = True  # float16 autocast + dynamic loss scaling on CUDA
    cpu_bf16: bool | Literal["auto"] = False  # bf16 autocast on CPU; "auto" times both on the first batch
    seed: int = 42
    pca_components: dict[str, int | None] = field(default_factory=_layout_pca)  # None: no PCA
    max_fit_frames: int = 200_000  # frames sampled to fit the preprocessing
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"train.weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        for what, keys in (("head_lr", self.head_lr), ("fixed_weights", self.fixed_weights)):
            unknown = set(keys) - set(LABELS)
            if unknown:
                raise ValueError(f"train.{what}: unknown dimensions {sorted(unknown)}; known: {list(LABELS)}")
        self.fixed_weights = {k: float(self.fixed_weights.get(k, 1.0)) for k in LABELS}
        self.pca_components = _layout_pca() | dict(self.pca_components)
        if set(self.pca_components) != {s.name for s in STREAMS}:
            raise ValueError(f"train.pca_components: unknown modalities in {sorted(self.pca_components)}")
        if self.cpu_bf16 not in (True, False, "auto"):
            raise ValueError(f"train.cpu_bf16 must be true, false or auto, got {self.cpu_bf16!r}")
        for name in ("epochs", "batch_size", "accumulation_steps", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"train.label_smoothing must be in [0, 1), got {self.label_smoothing}")

    def lr_for_head(self, label: str) -> float:
        return float(self.head_lr.get(label, self.lr))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown train config keys: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def load_configs(name_or_path: str | Path = "optimized") -> tuple[ModelConfig, TrainConfig]:
    """The ``model:`` and ``train:`` sections of a config (by name or path)."""
    data = read_config_file(name_or_path)
    return ModelConfig.from_dict(data.get("model", {})), TrainConfig.from_dict(data.get("train", {}))
