"""The one YAML loader: what a user gets back for each kind of mistake in a file they wrote."""

from __future__ import annotations

import pytest

from tqscore.config import load_yaml
from tqscore.errors import ConfigError, TqscoreError
from tqscore.model.config import CONFIG_DIR, ModelConfig, config_path
from tqscore.training.config import ConfigSections, TrainConfig, load_configs


def write(tmp_path, text: str):
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_packaged_configs_load_with_the_seed_values():
    standard_model, standard_train = load_configs("standard")
    optimized_model, optimized_train = load_configs(CONFIG_DIR / "optimized.yaml")
    assert (standard_model.d_model, standard_model.n_layers, standard_model.n_heads) == (256, 3, 8)
    assert (optimized_model.d_model, optimized_model.n_layers, optimized_model.n_heads) == (512, 6, 16)
    assert (standard_train.lr, optimized_train.lr, optimized_train.accumulation_steps) == (3.0e-4, 1.0e-4, 2)
    assert optimized_train.cpu_bf16 == "auto" and optimized_train.pca_components["audio"] == 200
    assert TrainConfig.from_dict(optimized_train.to_dict()) == optimized_train


def test_a_partial_file_keeps_the_defaults(tmp_path):
    model, train = load_configs(write(tmp_path, "model:\n  d_model: 64\n  n_heads: 4\ntrain:\n  epochs: 3\n"))
    assert (model.d_model, model.n_layers, train.epochs, train.batch_size) == (64, ModelConfig().n_layers, 3, 32)
    assert train.fixed_weights["overall"] == 1.3  # the seed's weights, not emptied
    model, train = load_configs(write(tmp_path, ""))
    assert model == ModelConfig() and train == TrainConfig()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("model:\n  d_modle: 64\n", "model.d_modle: unknown field"),
        ("modle:\n  d_model: 64\n", "modle: unknown field"),
        ("model:\n  d_model: wide\n", "model.d_model: Input should be a valid integer.*'wide'"),
        ("train:\n  epochs: 0\n", "train.epochs: Input should be greater than or equal to 1"),
        ("train:\n  weighting: equal\n", "train.weighting: Input should be 'fixed', 'uncertainty' or 'gradnorm'"),
        ("train:\n  fixed_weights: {lipsync: 2.0}\n", r"train.fixed_weights: unknown dimensions \['lipsync'\]"),
        ("model:\n  d_model: 100\n  n_heads: 16\n", "model: model config 'optimized': d_model 100 is not divisible"),
        ("model: [d_model\n", "not valid YAML at line 2"),
        ("- d_model: 64\n", "expected a mapping of settings at the top level, found a list"),
    ],
)
def test_every_mistake_names_the_file_and_the_field(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=needle) as info:
        load_configs(path)
    assert str(info.value).startswith(f"{path}: ")
    assert isinstance(info.value, TqscoreError) and "\n" not in str(info.value)


def test_missing_or_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="no-such.yaml: config file not found"):
        config_path(tmp_path / "no-such.yaml")
    with pytest.raises(ConfigError, match="no such file"):
        load_yaml(tmp_path / "gone.yaml", ConfigSections)
    (tmp_path / "bytes.yaml").write_bytes(b"model:\n  name: \xff\xfe\n")
    with pytest.raises(ConfigError, match="bytes.yaml: not UTF-8 text"):
        load_yaml(tmp_path / "bytes.yaml", ConfigSections)
    with pytest.raises(ConfigError, match="choose one of \\['optimized', 'standard'\\]"):
        config_path("no-such-config")


def test_overrides_are_checked_like_the_file():
    _, train = load_configs("standard")
    assert train.replace(epochs=7).epochs == 7
    with pytest.raises(ConfigError, match="batch_size: Input should be greater than or equal to 1"):
        train.replace(batch_size=0)
