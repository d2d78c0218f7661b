"""The fusion model's one config class, loaded from the YAML files in ``tqscore/configs``.

A config file holds a ``model:`` section (read here) and a ``train:`` section (read by
``tqscore.training``); a config is chosen by name (``standard``, ``optimized``) or by path.
Dataclasses rather than pydantic: the config is a flat bag of numbers that the bundle stores
as plain YAML, and every field has a default taken from the seed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from tqscore.layout import STREAMS, T

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def _default_embed_hidden() -> dict[str, int]:
    return {"visual": 256, "audio": 512, "landmarks": 512, "aus": 128}


def _default_input_dims() -> dict[str, int]:
    return {s.name: s.pca_components for s in STREAMS}


@dataclass
class ModelConfig:
    name: str = "optimized"
    d_model: int = 512
    n_layers: int = 6
    n_heads: int = 16
    ffn: int = 2048
    dropout: float = 0.1  # inside the Transformer blocks
    embed_hidden: dict[str, int] = field(default_factory=_default_embed_hidden)
    embed_dropout: float = 0.3
    head_dropout: float = 0.3
    # Width of each modality after preprocessing: the PCA widths, or the raw widths without PCA (E6).
    input_dims: dict[str, int] = field(default_factory=_default_input_dims)
    n_frames: int = T
    fusion: Literal["transformer", "concat_mlp"] = "transformer"  # concat_mlp is ablation E5
    dual_path: bool = False  # second seed's Path A (statistics concatenation) beside the Transformer
    drop_modalities: tuple[str, ...] = ()  # ablations E1-E4: these embeddings are replaced by zeros
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        self.drop_modalities = tuple(self.drop_modalities)
        names = {s.name for s in STREAMS}
        for what, keys in (("embed_hidden", self.embed_hidden), ("input_dims", self.input_dims)):
            if set(keys) != names:
                raise ValueError(f"model config {self.name!r}: {what} must name exactly {sorted(names)}, got {sorted(keys)}")
        unknown = set(self.drop_modalities) - names
        if unknown:
            raise ValueError(f"model config {self.name!r}: unknown modalities to drop: {sorted(unknown)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"model config {self.name!r}: d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.fusion not in ("transformer", "concat_mlp"):
            raise ValueError(f"model config {self.name!r}: fusion must be 'transformer' or 'concat_mlp', got {self.fusion!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["drop_modalities"] = list(self.drop_modalities)
        return data

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)


def config_path(name_or_path: str | Path) -> Path:
    """A config name (``standard``) resolves to the packaged YAML; anything else is a path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        return path
    packaged = CONFIG_DIR / f"{name_or_path}.yaml"
    if not packaged.is_file():
        choices = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"unknown config {name_or_path!r}: choose one of {choices} or give a YAML path")
    return packaged


def read_config_file(name_or_path: str | Path) -> dict[str, Any]:
    path = config_path(name_or_path)
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must be a mapping with 'model:' and 'train:' sections")
    return data


def load_config(name_or_path: str | Path = "optimized") -> ModelConfig:
    return ModelConfig.from_dict(read_config_file(name_or_path).get("model", {}))
