"""Resumable training checkpoints: tensors in safetensors, everything else in JSON.

No pickle anywhere: optimizer states are split into their tensors (``exp_avg`` ...) and their
JSON-able parameter groups, RNG states are stored as uint8 tensors. Both files are written to
a temporary name and renamed, so an interrupted save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from tqscore.errors import TrainingError
from tqscore.io import atomic_write, write_text_atomic


def optimizer_state(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{pid}.{key}"] = value
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            pid, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(pid), {})[key] = value
    for name, value in meta["scalars"].items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(stem: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """``meta`` must hold a ``tag`` (e.g. the epoch) that identifies this save."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    tag = {"tag": str(meta["tag"])}  # pairs the two files: a crash between the renames is detected
    with atomic_write(stem.with_suffix(".safetensors")) as tmp:
        save_file(tensors, str(tmp), metadata=tag)
    write_text_atomic(stem.with_suffix(".json"), json.dumps(meta, indent=1))


def load_checkpoint(stem: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    weights, meta = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    if not weights.is_file() or not meta.is_file():
        raise TrainingError(f"no checkpoint to resume from at {weights} / {meta}")
    from safetensors import safe_open

    data = json.loads(meta.read_text())
    with safe_open(str(weights), "pt") as f:
        tag = (f.metadata() or {}).get("tag")
    if tag != str(data.get("tag")):
        raise TrainingError(f"{weights} (tag {tag}) and {meta} (tag {data.get('tag')}) are from different saves")
    return load_file(str(weights)), data
