"""Masked per-task MSE and the three task-weighting strategies of docs/method.md §9.

A missing label (``MISSING_LABEL``) is removed by multiplying its error by zero before the
square, so it contributes neither loss nor gradient, whatever value stands in the table.
A task with no label in a batch takes no part in that batch's weighting (its uncertainty term
``ln sigma`` would otherwise be driven to minus infinity by a zero loss).
"""

from __future__ import annotations

import torch
from torch import nn

from tqscore.layout import LABELS, MISSING_LABEL


def masked_mse(pred: torch.Tensor, target: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K) -> per-task MSE over the labelled samples (0 where none) and the per-task counts."""
    mask = present.to(pred.dtype)
    err = (pred - torch.where(present, target, pred.detach())) * mask
    counts = mask.sum(0)
    return (err**2).sum(0) / counts.clamp(min=1.0), counts


def smooth_targets(target: torch.Tensor, present: torch.Tensor, means: torch.Tensor, eps: float) -> torch.Tensor:
    """Label smoothing for regression: shrink each label towards its task's training mean by eps."""
    if eps == 0.0:
        return target
    return torch.where(present, (1.0 - eps) * target + eps * means, target)


def label_present(target: torch.Tensor) -> torch.Tensor:
    return (target != MISSING_LABEL) & torch.isfinite(target)


class FixedWeighting(nn.Module):
    """total = sum_k w_k L_k over the tasks present in the batch."""

    def __init__(self, weights: dict[str, float]):
        super().__init__()
        self.register_buffer("weights", torch.tensor([weights[k] for k in LABELS], dtype=torch.float32))

    def forward(self, losses: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return (self.weights * losses * valid).sum()

    def summary(self) -> dict[str, float]:
        return {f"w_{k}": float(w) for k, w in zip(LABELS, self.weights)}


class UncertaintyWeighting(nn.Module):
    """Homoscedastic uncertainty (Kendall et al.): sum_k L_k / (2 sigma_k^2) + ln sigma_k.

    Learns s_k = ln sigma_k (unconstrained, sigma = exp(s) > 0), initialised to sigma = 1.
    """

    def __init__(self):
        super().__init__()
        self.log_sigma = nn.Parameter(torch.zeros(len(LABELS)))

    def forward(self, losses: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        terms = 0.5 * torch.exp(-2.0 * self.log_sigma) * losses + self.log_sigma
        return (terms * valid).sum()

    @property
    def sigmas(self) -> torch.Tensor:
        return self.log_sigma.detach().exp()

    def summary(self) -> dict[str, float]:
        return {f"sigma_{k}": float(s) for k, s in zip(LABELS, self.sigmas)}


class GradNormWeighting(nn.Module):
    """GradNorm (Chen et al. 2018): task weights w_k, kept summing to the number of tasks.

    Each batch: G_k = w_k ||d L_k / d W|| on the last shared layer W; the target for G_k is
    mean(G) * r_k^alpha with r_k = (L_k / L_k(0)) / mean_j(L_j / L_j(0)) (relative inverse
    training rate, L_k(0) = the task's first observed loss); the weights take one Adam step on
    sum_k |G_k - target_k| (target held constant) and are renormalised. The model's loss is
    sum_k w_k L_k with the weights held constant.
    """

    def __init__(self, alpha: float, lr: float):
        super().__init__()
        n = len(LABELS)
        self.alpha = alpha
        self.weights = nn.Parameter(torch.ones(n))
        self.register_buffer("initial_loss", torch.zeros(n))  # 0 = not yet seen
        self.optimizer = torch.optim.Adam([self.weights], lr=lr)

    def update(self, losses: torch.Tensor, valid: torch.Tensor, shared: list[torch.Tensor], grad_scale: float = 1.0) -> None:
        idx = torch.nonzero(valid).flatten()
        if len(idx) < 2:
            return  # relative rates need at least two tasks
        loss = losses.detach()
        first = valid & (self.initial_loss == 0)
        self.initial_loss[first] = loss[first].clamp(min=1e-8)
        norms = []
        for k in idx.tolist():
            grads = torch.autograd.grad(losses[k] * grad_scale, shared, retain_graph=True, allow_unused=True)
            norms.append(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)) / grad_scale)
        g = self.weights[idx] * torch.stack(norms)
        ratio = loss[idx] / self.initial_loss[idx]
        target = (g.mean() * (ratio / ratio.mean()) ** self.alpha).detach()
        self.optimizer.zero_grad(set_to_none=True)
        (g - target).abs().sum().backward(inputs=[self.weights])
        self.optimizer.step()
        with torch.no_grad():
            self.weights.clamp_(min=1e-3)
            self.weights.mul_(len(LABELS) / self.weights.sum())

    def forward(self, losses: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return (self.weights.detach() * losses * valid).sum()

    def summary(self) -> dict[str, float]:
        return {f"w_{k}": float(w) for k, w in zip(LABELS, self.weights.detach())}


def make_weighting(strategy: str, fixed_weights: dict[str, float], alpha: float, gradnorm_lr: float) -> nn.Module:
    if strategy == "fixed":
        return FixedWeighting(fixed_weights)
    if strategy == "uncertainty":
        return UncertaintyWeighting()
    if strategy == "gradnorm":
        return GradNormWeighting(alpha, gradnorm_lr)
    raise ValueError(f"unknown weighting {strategy!r}")


def last_shared_layer(model: nn.Module) -> list[torch.Tensor]:
    """Parameters of the last module (in registration order) below the heads: GradNorm's W."""
    shared = {id(p) for p in model.shared_parameters()}
    last = None
    for module in model.modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if own and all(id(p) in shared for p in own) and module is not model:
            last = own
    if last is None:
        raise ValueError("model has no shared layer for GradNorm")
    return last
