"""Shared test inputs: the real clips in ../shared/media and tiny backbones saved to disk.

Tiny models keep the real output widths (2048-d pooled ResNet, 768-d HuBERT) so every layer
downstream sees production shapes, and are loaded through the same ``from_pretrained(path)``
code a user's run takes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
REAL_CLIPS = sorted((MEDIA / "real").glob("*.mp4"))
GENERATED_CLIPS = sorted((MEDIA / "generated").glob("*.mp4"))
ALL_CLIPS = REAL_CLIPS + GENERATED_CLIPS
# Frontal clips with one clearly visible face (demo1_video has a small face in a portrait frame).
FRONTAL_CLIPS = [p for p in ALL_CLIPS if p.name != "demo1_video.mp4"]


def pytest_configure(config):
    if not ALL_CLIPS:
        raise pytest.UsageError(f"shared test media not found under {MEDIA}")


@pytest.fixture(scope="session")
def media_dir() -> Path:
    return MEDIA


@pytest.fixture(scope="session")
def tiny_resnet_dir(tmp_path_factory) -> Path:
    import torch
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(0)
    config = ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 32, 2048], depths=[1, 1, 1, 1], layer_type="bottleneck"
    )
    path = tmp_path_factory.mktemp("tiny-resnet")
    ResNetModel(config).eval().save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_hubert_dir(tmp_path_factory) -> Path:
    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    config = HubertConfig(
        hidden_size=768,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    path = tmp_path_factory.mktemp("tiny-hubert")
    HubertModel(config).eval().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """One BLAS / torch thread for the training tests: on a busy 2-core machine two spinning
    threads per process ran them 6x slower (97 s vs 17 s measured). Restored afterwards."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)
