"""Tiny random visual and audio backbones saved to disk, loaded through the same
``from_pretrained(path)`` code a user's run takes.

They keep the real output widths (2048-d pooled ResNet, 768-d HuBERT), so every layer downstream
sees production shapes, at a fraction of a second per clip.
"""

from __future__ import annotations

from pathlib import Path


def save_tiny_resnet(path: Path) -> Path:
    """A one-block-per-stage bottleneck ResNet with the 2048-d pooled output, seed 0."""
    import torch
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(0)
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 32, 2048], depths=[1, 1, 1, 1],
                          layer_type="bottleneck")
    ResNetModel(config).eval().save_pretrained(path)
    return path


def save_tiny_hubert(path: Path) -> Path:
    """A one-layer HuBERT with the 768-d hidden size of HuBERT-Base, seed 0."""
    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    config = HubertConfig(hidden_size=768, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                          conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    HubertModel(config).eval().save_pretrained(path)
    return path
