"""The seed's cross-modal fusion model (docs/method.md §8), in plain PyTorch modules.

Attention is written out with ``scaled_dot_product_attention`` rather than taken from
``nn.TransformerEncoder``: that class switches to a fused "fast path" in eval mode whose
padding handling and ONNX export differ from training, and the export folds weights into
``embed[m][0]`` by name, so every layer here is one the reader can see.

Padding frames (``frame_mask == 0``) are excluded from attention keys and from the time
pooling, so a 4-s clip is scored on its 102 real frames rather than on 48 frames of zeros.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from tqscore.layout import LABELS, STREAM_NAMES
from tqscore.model.config import ModelConfig

# Additive attention bias for padding keys: finite so an all-padding row stays NaN-free, and
# inside FP16 range for TensorRT engines.
PAD_BIAS = -1e4


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class EncoderBlock(nn.Module):
    """Post-norm residual block, as in the original Transformer and the seed."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn = SelfAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.ffn = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.ffn), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.ffn, cfg.d_model)
        )
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop(self.attn(x, bias)))
        return self.norm2(x + self.drop(self.ffn(x)))


def masked_mean(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean over time of (B, T, D) with (B, T, 1) weights; an all-padding clip gives zeros."""
    return (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def masked_std(x: torch.Tensor, weights: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    var = masked_mean((x - mean.unsqueeze(1)) ** 2, weights)
    return torch.sqrt(var + 1e-6)


def score_head(d_model: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_model, 256), nn.ReLU(), nn.Dropout(dropout), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 1)
    )


class FusionModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.embed = nn.ModuleDict(
            {
                m: nn.Sequential(
                    nn.Linear(cfg.input_dims[m], cfg.embed_hidden[m]),
                    nn.ReLU(),
                    nn.Dropout(cfg.embed_dropout),
                    nn.Linear(cfg.embed_hidden[m], d),
                )
                for m in STREAM_NAMES
            }
        )
        if cfg.fusion == "transformer":
            self.pos = nn.Parameter(torch.randn(cfg.n_frames, d) * 0.02)
            self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.n_layers))
        else:
            self.concat_mlp = nn.Sequential(
                nn.Linear(len(STREAM_NAMES) * d, d), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(d, d)
            )
        if cfg.dual_path:
            self.path_a = nn.Sequential(nn.Linear(2 * len(STREAM_NAMES) * d, d), nn.ReLU(), nn.Dropout(cfg.dropout))
            self.merge = nn.Linear(2 * d, d)
        self.heads = nn.ModuleList(score_head(d, cfg.head_dropout) for _ in LABELS)

    def shared_parameters(self) -> list[nn.Parameter]:
        """Everything below the heads: the parameters GradNorm measures per-task gradients on."""
        head_ids = {id(p) for p in self.heads.parameters()}
        return [p for p in self.parameters() if id(p) not in head_ids]

    def embeddings(self, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for m in STREAM_NAMES:
            e = self.embed[m](inputs[m])
            out.append(torch.zeros_like(e) if m in self.cfg.drop_modalities else e)
        return out

    def encode(self, embeddings: list[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
        if self.cfg.fusion == "concat_mlp":
            return self.concat_mlp(masked_mean(torch.cat(embeddings, dim=-1), weights))
        x = torch.stack(embeddings).mean(0) + self.pos
        bias = ((1.0 - weights) * PAD_BIAS).transpose(1, 2).unsqueeze(1)  # (B, 1, 1, T) over keys
        for block in self.blocks:
            if self.cfg.gradient_checkpointing and self.training:
                x = checkpoint(block, x, bias, use_reentrant=False)
            else:
                x = block(x, bias)
        return masked_mean(x, weights)

    def forward(
        self,
        visual: torch.Tensor,
        audio: torch.Tensor,
        landmarks: torch.Tensor,
        aus: torch.Tensor,
        frame_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Preprocessed (B, T, input_dims[m]) streams and a (B, T) frame mask -> (B, 5) scores in [1, 5]."""
        weights = frame_mask.to(visual.dtype).unsqueeze(-1)
        embeddings = self.embeddings({"visual": visual, "audio": audio, "landmarks": landmarks, "aus": aus})
        z = self.encode(embeddings, weights)
        if self.cfg.dual_path:
            stats = []
            for e in embeddings:
                mean = masked_mean(e, weights)
                stats += [mean, masked_std(e, weights, mean)]
            z = self.merge(torch.cat([z, self.path_a(torch.cat(stats, dim=-1))], dim=-1))
        logits = torch.cat([head(z) for head in self.heads], dim=-1)
        return 1.0 + 4.0 * torch.sigmoid(logits)
