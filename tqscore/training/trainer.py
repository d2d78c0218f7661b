"""The training loop (docs/method.md §10) on preprocessed, in-memory feature sets.

Plain PyTorch rather than a trainer framework: every item of the spec (task weighting,
GradNorm's extra gradients, per-head learning rates, resumable state without pickles) is a
few lines here, and a framework would hide where each one happens.

Determinism: the initial weights come from ``torch.manual_seed(seed)``, each epoch's batch
order from a generator seeded with ``seed + epoch`` and dropout from the global torch RNG,
whose state is part of every checkpoint; a run resumed from its last checkpoint therefore
continues exactly as if it had not stopped (on CPU; cuDNN kernels may differ on a GPU).
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from tqscore.errors import TrainingError
from tqscore.layout import LABELS, STREAM_NAMES
from tqscore.model.config import ModelConfig
from tqscore.model.fusion import FusionModel
from tqscore.training.checkpoint import load_checkpoint, load_optimizer_state, optimizer_state, save_checkpoint
from tqscore.training.config import TrainConfig
from tqscore.training.data import FeatureSet
from tqscore.training.losses import (
    GradNormWeighting,
    UncertaintyWeighting,
    label_present,
    last_shared_layer,
    make_weighting,
    masked_mse,
    smooth_targets,
)
from tqscore.training.metrics import compute_metric

log = logging.getLogger(__name__)

LAST, BEST = "last", "best"


@dataclass
class TrainResult:
    model: FusionModel  # best-validation weights, eval mode
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = math.inf
    stopped_early: bool = False
    finished: bool = True  # False when ``stop_after`` ended the call before the last epoch
    precision: str = "float32"
    label_means: list[float] = field(default_factory=list)


def batch_tensors(data: FeatureSet, idx: np.ndarray, device: torch.device) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    inputs = {m: torch.from_numpy(np.ascontiguousarray(data.streams[m][idx])).to(device) for m in STREAM_NAMES}
    inputs["frame_mask"] = torch.from_numpy(data.frame_mask[idx]).to(device)
    return inputs, torch.from_numpy(data.labels[idx]).to(device)


@torch.no_grad()
def predict(model: FusionModel, data: FeatureSet, batch_size: int = 64, device: str | torch.device = "cpu",
            autocast=nullcontext) -> np.ndarray:
    """(N, 5) scores for a preprocessed feature set; ``autocast`` makes a fresh precision context per batch."""
    model.eval()
    out = []
    for start in range(0, len(data), batch_size):
        inputs, _ = batch_tensors(data, np.arange(start, min(start + batch_size, len(data))), torch.device(device))
        with autocast():
            out.append(model(**inputs).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(LABELS)), np.float32)


class Trainer:
    def __init__(self, model_cfg: ModelConfig, cfg: TrainConfig, train: FeatureSet, val: FeatureSet,
                 work_dir: str | Path, device: str = "cpu"):
        self.cfg, self.model_cfg = cfg, model_cfg
        if not val.present.any():
            raise TrainingError("the validation split has no labels; early stopping and the best checkpoint need some")
        self.train_set, self.val_set = train, val
        self.work_dir = Path(work_dir)
        self.device = torch.device(device)
        torch.manual_seed(cfg.seed)
        self.model = FusionModel(model_cfg).to(self.device)
        self.weighting = make_weighting(cfg.weighting, cfg.fixed_weights, cfg.gradnorm_alpha, cfg.gradnorm_lr).to(self.device)
        if isinstance(self.weighting, GradNormWeighting):
            self.gradnorm_layer = last_shared_layer(self.model)
        present = train.present
        means = [float(train.labels[present[:, k], k].mean()) if present[:, k].any() else 3.0 for k in range(len(LABELS))]
        self.label_means = torch.tensor(means, device=self.device)
        self.optimizer = torch.optim.AdamW(self._param_groups(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        cuda = self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda and cfg.amp)
        self.precision = "float16" if cuda and cfg.amp else "float32"
        self.steps_per_epoch = math.ceil(math.ceil(len(train) / cfg.batch_size) / cfg.accumulation_steps)
        self.epoch = self.step = self.bad_epochs = 0
        self.best_val, self.best_epoch = math.inf, -1
        self.history: list[dict] = []

    # ----- setup -----------------------------------------------------------------------------------
    def _param_groups(self) -> list[dict]:
        cfg = self.cfg
        groups = [{"params": self.model.shared_parameters(), "base_lr": cfg.lr, "name": "shared"}]
        for label, head in zip(LABELS, self.model.heads):
            groups.append({"params": list(head.parameters()), "base_lr": cfg.lr_for_head(label), "name": f"head.{label}"})
        if isinstance(self.weighting, UncertaintyWeighting):
            groups.append({"params": [self.weighting.log_sigma], "base_lr": cfg.weighting_lr, "weight_decay": 0.0,
                           "name": "uncertainty"})
        for g in groups:
            g["lr"] = g["base_lr"]
        return groups

    def _autocast(self):
        if self.precision == "float16":
            return torch.autocast("cuda", dtype=torch.float16)
        if self.precision == "bfloat16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def lr_factor(self, step: int) -> float:
        """Linear warm-up over ``warmup_epochs``, then cosine annealing to ``min_lr_ratio``."""
        warmup = self.cfg.warmup_epochs * self.steps_per_epoch
        total = self.cfg.epochs * self.steps_per_epoch
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1.0, total - warmup))
        return self.cfg.min_lr_ratio + (1 - self.cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    def _set_lr(self) -> None:
        factor = self.lr_factor(self.step)
        for g in self.optimizer.param_groups:
            g["lr"] = g["base_lr"] * factor

    def _choose_cpu_precision(self) -> None:
        """On CPU use bf16 autocast only when configured, or when ``auto`` measures it faster."""
        if self.device.type != "cpu" or self.cfg.cpu_bf16 is False:
            if self.device.type == "cpu":
                log.info("bf16 autocast on CPU is off (train.cpu_bf16: false); training in float32")
            return
        if self.cfg.cpu_bf16 is True:
            self.precision = "bfloat16"
            log.info("bf16 autocast on CPU is on (train.cpu_bf16: true)")
            return
        timings = {p: self._time_steps(p) for p in ("float32", "bfloat16")}
        self.precision = "bfloat16" if timings["bfloat16"] < 0.9 * timings["float32"] else "float32"
        log.info("bf16 autocast on CPU is %s: a training step took %.3f s in float32, %.3f s with bf16",
                 "on" if self.precision == "bfloat16" else "off", timings["float32"], timings["bfloat16"])

    def _time_steps(self, precision: str, repeats: int = 3) -> float:
        rng = torch.get_rng_state()
        saved, self.precision = self.precision, precision
        idx = np.arange(min(self.cfg.batch_size, len(self.train_set)))
        self.model.train()
        best = math.inf
        for _ in range(repeats + 1):
            start = time.perf_counter()
            inputs, _ = batch_tensors(self.train_set, idx, self.device)
            with self._autocast():
                loss = self.model(**inputs).float().sub(3.0).pow(2).mean()
            loss.backward()
            best = min(best, time.perf_counter() - start)
        self.model.zero_grad(set_to_none=True)
        self.precision = saved
        torch.set_rng_state(rng)
        return best

    # ----- one epoch -------------------------------------------------------------------------------
    def train_epoch(self) -> dict[str, float]:
        cfg = self.cfg
        self.model.train()
        order = torch.randperm(len(self.train_set), generator=torch.Generator().manual_seed(cfg.seed + self.epoch))
        batches = [order[i : i + cfg.batch_size].sort().values.numpy() for i in range(0, len(order), cfg.batch_size)]
        sums = torch.zeros(len(LABELS), device=self.device)
        counts = torch.zeros(len(LABELS), device=self.device)
        total = 0.0
        self.optimizer.zero_grad(set_to_none=True)
        bar = tqdm(batches, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", leave=False, disable=None, unit="batch")
        for i, idx in enumerate(bar):
            inputs, target = batch_tensors(self.train_set, idx, self.device)
            present = label_present(target)
            with self._autocast():
                pred = self.model(**inputs)
            target = smooth_targets(target, present, self.label_means, cfg.label_smoothing)
            losses, n = masked_mse(pred.float(), target, present)
            valid = (n > 0).to(losses.dtype)
            if isinstance(self.weighting, GradNormWeighting):
                self.weighting.update(losses, n > 0, self.gradnorm_layer, self.scaler.get_scale() if self.scaler.is_enabled() else 1.0)
            loss = self.weighting(losses, valid)
            self.scaler.scale(loss / cfg.accumulation_steps).backward()
            if (i + 1) % cfg.accumulation_steps == 0 or i + 1 == len(batches):
                self._optimizer_step()
            sums += losses.detach() * n
            counts += n
            total += float(loss.detach())
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
        mse = (sums / counts.clamp(min=1)).cpu().numpy()
        out = {"train_loss": total / max(1, len(batches))}
        out |= {f"train_mse_{k}": float(v) for k, v, c in zip(LABELS, mse, counts.cpu()) if c > 0}
        return out

    def _optimizer_step(self) -> None:
        self._set_lr()
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1

    def validate(self) -> dict[str, float]:
        pred = predict(self.model, self.val_set, self.cfg.eval_batch_size, self.device, self._autocast)
        present = self.val_set.present
        out: dict[str, float] = {}
        losses = []
        for k, label in enumerate(LABELS):
            m = present[:, k]
            if not m.any():
                continue
            y, p = self.val_set.labels[m, k], pred[m, k]
            losses.append(float(np.mean((p - y) ** 2)))
            out[f"val_mse_{label}"] = losses[-1]
            out[f"val_r_{label}"] = compute_metric("pearson", y, p)
        out["val_loss"] = float(np.mean(losses)) if losses else math.nan
        return out

    # ----- checkpoints -----------------------------------------------------------------------------
    def _state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors |= {f"weighting.{k}": v for k, v in self.weighting.state_dict().items()}
        return tensors

    def save(self, which: str) -> None:
        tensors = self._state_tensors()
        meta: dict = {"tag": f"{which}-epoch{self.epoch}", "epoch": self.epoch}
        if which == LAST:
            opt_tensors, opt_meta = optimizer_state(self.optimizer, "optim")
            tensors |= opt_tensors
            meta |= {"optimizer": opt_meta, "step": self.step, "best_val": self.best_val, "best_epoch": self.best_epoch,
                     "bad_epochs": self.bad_epochs, "history": self.history, "scaler": self.scaler.state_dict(),
                     "precision": self.precision, "model_config": self.model_cfg.to_dict(), "train_config": self.cfg.to_dict()}
            if isinstance(self.weighting, GradNormWeighting):
                gn_tensors, meta["gradnorm_optimizer"] = optimizer_state(self.weighting.optimizer, "gnoptim")
                tensors |= gn_tensors
            tensors["rng.cpu"] = torch.get_rng_state()
            if self.device.type == "cuda":
                tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        save_checkpoint(self.work_dir / which, tensors, meta)

    def _load_weights(self, tensors: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        self.weighting.load_state_dict({k[10:]: v for k, v in tensors.items() if k.startswith("weighting.")})

    def resume(self) -> None:
        tensors, meta = load_checkpoint(self.work_dir / LAST)
        same = _jsonable([self.model_cfg.to_dict(), self.cfg.to_dict()]) == [meta["model_config"], meta["train_config"]]
        if not same:
            raise TrainingError(f"{self.work_dir / LAST}: checkpoint was written with another model/train config; "
                             "resume with the same config or start a fresh work directory")
        tensors = {k: v.to(self.device) if not k.startswith("rng.") else v for k, v in tensors.items()}
        self._load_weights(tensors)
        load_optimizer_state(self.optimizer, "optim", tensors, meta["optimizer"])
        if isinstance(self.weighting, GradNormWeighting):
            load_optimizer_state(self.weighting.optimizer, "gnoptim", tensors, meta["gradnorm_optimizer"])
        if meta["scaler"]:
            self.scaler.load_state_dict(meta["scaler"])
        torch.set_rng_state(tensors["rng.cpu"])
        if "rng.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        self.epoch, self.step = meta["epoch"], meta["step"]
        self.best_val, self.best_epoch, self.bad_epochs = meta["best_val"], meta["best_epoch"], meta["bad_epochs"]
        self.history, self.precision = meta["history"], meta["precision"]
        log.info("resumed from %s at epoch %d (best validation loss %.4f at epoch %d)",
                 self.work_dir / LAST, self.epoch, self.best_val, self.best_epoch)

    # ----- the loop --------------------------------------------------------------------------------
    def fit(self, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Train until ``epochs`` or early stopping; ``stop_after`` ends this call after that many epochs."""
        if resume:
            self.resume()
        else:
            if (self.work_dir / f"{LAST}.json").exists():
                raise TrainingError(f"{self.work_dir} already holds a training checkpoint; continue it with --resume "
                                      "or train into another folder")
            self._choose_cpu_precision()
        cfg = self.cfg
        ran = 0
        while self.epoch < cfg.epochs and self.bad_epochs < cfg.early_stopping_patience:
            if stop_after is not None and ran >= stop_after:
                break
            start = time.perf_counter()
            row = {"epoch": self.epoch + 1} | self.train_epoch() | self.validate()
            row |= self.weighting.summary() | {"lr": self.optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - start}
            self.epoch += 1
            ran += 1
            improved = row["val_loss"] < self.best_val
            if improved:
                self.best_val, self.best_epoch, self.bad_epochs = row["val_loss"], self.epoch, 0
                self.save(BEST)
            else:
                self.bad_epochs += 1
            self.history.append(row)
            self.save(LAST)
            log.info("epoch %d/%d  train %.4f  val %.4f%s  r[%s]  lr %.2e  %.1f s", self.epoch, cfg.epochs,
                     row["train_loss"], row["val_loss"], " *" if improved else "",
                     " ".join(f"{row[f'val_r_{k}']:.2f}" for k in LABELS if f"val_r_{k}" in row), row["lr"], row["seconds"])
        stopped_early = self.bad_epochs >= cfg.early_stopping_patience and self.epoch < cfg.epochs
        if stopped_early:
            log.info("early stopping after epoch %d: no better validation loss for %d epochs", self.epoch, self.bad_epochs)
        if (self.work_dir / "best.safetensors").is_file():
            tensors, _ = load_checkpoint(self.work_dir / BEST)
            self._load_weights({k: v.to(self.device) for k, v in tensors.items()})
        self.model.eval()
        finished = self.epoch >= cfg.epochs or self.bad_epochs >= cfg.early_stopping_patience
        return TrainResult(self.model, self.history, self.best_epoch, self.best_val, stopped_early, finished,
                           self.precision, self.label_means.tolist())


def _jsonable(data):
    import json

    return json.loads(json.dumps(data))
