import pytest
import torch

from tqscore.errors import ConfigError
from tqscore.layout import LABELS, STREAM_NAMES, T
from tqscore.model.config import ModelConfig, load_config
from tqscore.model.fusion import FusionModel


def tiny_config(**changes) -> ModelConfig:
    return load_config("standard").replace(d_model=32, n_layers=2, n_heads=4, ffn=64, **changes)


def random_inputs(cfg: ModelConfig, batch: int = 3, n_valid: int = T, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    streams = [torch.randn(batch, T, cfg.input_dims[m], generator=g) for m in STREAM_NAMES]
    mask = torch.zeros(batch, T)
    mask[:, :n_valid] = 1
    return streams, mask


def test_named_configs_match_the_seed():
    standard, optimized = load_config("standard"), load_config("optimized")
    assert (standard.d_model, standard.n_layers, standard.n_heads, standard.ffn) == (256, 3, 8, 1024)
    assert (optimized.d_model, optimized.n_layers, optimized.n_heads, optimized.ffn) == (512, 6, 16, 2048)
    assert standard.d_model // standard.n_heads == optimized.d_model // optimized.n_heads == 32
    assert ModelConfig.from_dict(optimized.to_dict()) == optimized


def test_unknown_config_name_lists_choices():
    with pytest.raises(ConfigError, match="optimized"):
        load_config("no-such-config")


@pytest.mark.parametrize(
    "changes", [{}, {"fusion": "concat_mlp"}, {"dual_path": True}, {"drop_modalities": ("aus",)}]
)
def test_scores_have_one_column_per_label_in_range(changes):
    cfg = tiny_config(**changes)
    model = FusionModel(cfg).eval()
    streams, mask = random_inputs(cfg)
    scores = model(*streams, mask)
    assert scores.shape == (3, len(LABELS))
    assert torch.all((scores >= 1) & (scores <= 5))


@pytest.mark.parametrize("fusion", ["transformer", "concat_mlp"])
def test_padding_frames_do_not_change_scores(fusion):
    cfg = tiny_config(fusion=fusion, dual_path=True)
    model = FusionModel(cfg).eval()
    streams, mask = random_inputs(cfg, n_valid=100)
    noisy = [s.clone() for s in streams]
    for s in noisy:
        s[:, 100:] = torch.randn_like(s[:, 100:]) * 50
    torch.testing.assert_close(model(*streams, mask), model(*noisy, mask))


def test_dropped_modality_is_ignored():
    cfg = tiny_config(drop_modalities=("visual",))
    model = FusionModel(cfg).eval()
    streams, mask = random_inputs(cfg)
    changed = [torch.randn_like(streams[0])] + streams[1:]
    torch.testing.assert_close(model(*streams, mask), model(*changed, mask))


def test_gradient_checkpointing_gives_the_same_gradients():
    cfg = tiny_config(dropout=0.0, embed_dropout=0.0, head_dropout=0.0)
    streams, mask = random_inputs(cfg)
    grads = []
    for flag in (False, True):
        torch.manual_seed(0)
        model = FusionModel(cfg.replace(gradient_checkpointing=flag)).train()
        model(*streams, mask).sum().backward()
        grads.append(model.embed["visual"][0].weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_shared_parameters_exclude_heads():
    model = FusionModel(tiny_config())
    shared = {id(p) for p in model.shared_parameters()}
    assert not shared & {id(p) for p in model.heads.parameters()}
    assert len(shared) + len(list(model.heads.parameters())) == len(list(model.parameters()))
