"""The fusion model's one config class, loaded from the YAML files in ``tqscore/configs``.

A config file holds a ``model:`` section (read here) and a ``train:`` section (read by
``tqscore.training``); a config is chosen by name (``standard``, ``optimized``) or by path.
Both are read through :func:`tqscore.config.load_yaml`, so a misspelt or mistyped field is a
ConfigError naming the file and the field; every field has a default taken from the seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from tqscore.config import ConfigModel, load_yaml, validate
from tqscore.errors import ConfigError
from tqscore.layout import STREAMS, T

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def _default_embed_hidden() -> dict[str, int]:
    return {"visual": 256, "audio": 512, "landmarks": 512, "aus": 128}


def _default_input_dims() -> dict[str, int]:
    return {s.name: s.pca_components for s in STREAMS}


class ModelConfig(ConfigModel):
    name: str = "optimized"
    d_model: int = Field(512, ge=1)
    n_layers: int = Field(6, ge=1)
    n_heads: int = Field(16, ge=1)
    ffn: int = Field(2048, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)  # inside the Transformer blocks
    embed_hidden: dict[str, int] = Field(default_factory=_default_embed_hidden)
    embed_dropout: float = Field(0.3, ge=0.0, lt=1.0)
    head_dropout: float = Field(0.3, ge=0.0, lt=1.0)
    # Width of each modality after preprocessing: the PCA widths, or the raw widths without PCA (E6).
    input_dims: dict[str, int] = Field(default_factory=_default_input_dims)
    n_frames: int = Field(T, ge=1)
    fusion: Literal["transformer", "concat_mlp"] = "transformer"  # concat_mlp is ablation E5
    dual_path: bool = False  # second seed's Path A (statistics concatenation) beside the Transformer
    drop_modalities: tuple[str, ...] = ()  # ablations E1-E4: these embeddings are replaced by zeros
    gradient_checkpointing: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        names = {s.name for s in STREAMS}
        for what, keys in (("embed_hidden", self.embed_hidden), ("input_dims", self.input_dims)):
            if set(keys) != names:
                raise ValueError(f"model config {self.name!r}: {what} must name exactly {sorted(names)}, got {sorted(keys)}")
        unknown = set(self.drop_modalities) - names
        if unknown:
            raise ValueError(f"model config {self.name!r}: unknown modalities to drop: {sorted(unknown)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"model config {self.name!r}: d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "model config") -> ModelConfig:
        return validate(data, cls, source)


class ModelSections(ConfigModel):
    """A config file as the model reads it: its ``model:`` section checked, ``train:`` left to training."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    train: dict[str, Any] = Field(default_factory=dict)


def config_path(name_or_path: str | Path) -> Path:
    """A config name (``standard``) resolves to the packaged YAML; anything else is a path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError("config file not found", path)
        return path
    packaged = CONFIG_DIR / f"{name_or_path}.yaml"
    if not packaged.is_file():
        choices = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise ConfigError(f"unknown config {name_or_path!r}: choose one of {choices} or give a YAML path")
    return packaged


def load_config(name_or_path: str | Path = "optimized") -> ModelConfig:
    return load_yaml(config_path(name_or_path), ModelSections).model
