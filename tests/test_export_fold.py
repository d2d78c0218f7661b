"""Folding the preprocessing into the fusion model's first Linears: same scores, no PCA step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tqscore.testing.export_support import random_preprocessing, tiny_fusion

from tqscore.export.fold import FoldedFusion, fold_linear, unfolded_scores
from tqscore.export.parity import fusion_inputs
from tqscore.layout import LABELS, STREAM_NAMES, STREAM_WIDTHS, T

FOLD_TOL = 1e-5


def folded_scores(folded, inputs):
    with torch.no_grad():
        return folded(torch.from_numpy(inputs["features"]), torch.from_numpy(inputs["frame_mask"])).numpy()


@pytest.fixture(scope="module")
def setup():
    preprocessing = random_preprocessing(seed=1)
    model, _ = tiny_fusion(preprocessing, seed=1)
    return model, preprocessing, FoldedFusion(model, preprocessing).eval()


@pytest.mark.parametrize("nan_fraction", [0.0, 0.05])
def test_folded_matches_float64_unfolded_reference(setup, nan_fraction):
    model, preprocessing, folded = setup
    inputs = fusion_inputs(preprocessing, batch=6, seed=3, nan_fraction=nan_fraction)
    assert np.isnan(inputs["features"]).any()  # fusion_inputs always blanks one whole frame
    reference = unfolded_scores(model, preprocessing, inputs["features"], inputs["frame_mask"])
    found = folded_scores(folded, inputs)
    assert found.shape == (6, len(LABELS)) and np.isfinite(found).all()
    assert np.abs(found - reference).max() <= FOLD_TOL
    # The scores move with the input, so agreement is not two constant outputs agreeing.
    assert reference.std(axis=0).min() > 10 * FOLD_TOL


def test_standard_normal_inputs_and_all_nan_stream(setup):
    """Inputs unlike the training data (plain N(0,1)) and a stream that is NaN on every frame."""
    model, preprocessing, folded = setup
    rng = np.random.default_rng(7)
    features = rng.standard_normal((3, T, sum(STREAM_WIDTHS.values()))).astype(np.float32)
    features[1, :, : STREAM_WIDTHS["visual"]] = np.nan  # no face crop on any frame
    mask = np.ones((3, T), np.float32)
    reference = unfolded_scores(model, preprocessing, features, mask)
    found = folded_scores(folded, {"features": features, "frame_mask": mask})
    assert np.abs(found - reference).max() <= FOLD_TOL


def test_fold_algebra_exact_in_float64():
    """W' x + b' equals W (C ((x - mean) / scale - pca_mean)) + b to float64 rounding, per modality."""
    preprocessing = random_preprocessing(seed=2)
    rng = np.random.default_rng(2)
    for m in STREAM_NAMES:
        t = preprocessing.transforms[m]
        linear = torch.nn.Linear(t.out_width, 16).double()
        folded = fold_linear(linear, t)
        x = (t.mean + t.scale * rng.standard_normal((5, t.in_width))).astype(np.float64)
        with torch.no_grad():
            expected = linear(torch.from_numpy(((x - t.mean) / t.scale - t.pca_mean) @ t.components.T.astype(np.float64)))
            w = folded.weight.double().numpy()
            # The folded Linear stores float32; compare the float64 algebra through its float32 rounding.
            got = x @ w.T + folded.bias.double().numpy()
        assert np.abs(got - expected.numpy()).max() <= 1e-4 * max(1.0, np.abs(expected.numpy()).max()), m


def test_no_pca_modalities_fold_too():
    """Ablation E6 (no PCA anywhere): identity components fold into plain z-scores."""
    preprocessing = random_preprocessing(seed=4, components={s: STREAM_WIDTHS[s] for s in STREAM_NAMES})
    model, _ = tiny_fusion(preprocessing, seed=4)
    folded = FoldedFusion(model, preprocessing).eval()
    inputs = fusion_inputs(preprocessing, batch=3, seed=5)
    reference = unfolded_scores(model, preprocessing, inputs["features"], inputs["frame_mask"])
    assert np.abs(folded_scores(folded, inputs) - reference).max() <= FOLD_TOL


@pytest.mark.parametrize("changes", [{"dual_path": True}, {"fusion": "concat_mlp"}, {"drop_modalities": ("aus",)}],
                         ids=["dual-path", "E5-concat-mlp", "E4-no-aus"])
def test_model_variants_fold(changes):
    """The fold touches only embed[m][0], so the config options and ablations fold unchanged."""
    preprocessing = random_preprocessing(seed=5)
    model, _ = tiny_fusion(preprocessing, seed=5, **changes)
    inputs = fusion_inputs(preprocessing, batch=3, seed=8)
    reference = unfolded_scores(model, preprocessing, inputs["features"], inputs["frame_mask"])
    assert np.abs(folded_scores(FoldedFusion(model, preprocessing).eval(), inputs) - reference).max() <= FOLD_TOL


def test_wrong_fold_is_caught(setup):
    """Control: dropping the PCA mean from the fold moves scores far beyond the tolerance."""
    model, preprocessing, _ = setup
    broken = random_preprocessing(seed=1)
    for t in broken.transforms.values():
        t.pca_mean = np.zeros_like(t.pca_mean)
    wrong = FoldedFusion(model, broken).eval()
    inputs = fusion_inputs(preprocessing, batch=4, seed=6)
    reference = unfolded_scores(model, preprocessing, inputs["features"], inputs["frame_mask"])
    assert np.abs(folded_scores(wrong, inputs) - reference).max() > 100 * FOLD_TOL


def test_refuses_unfoldable_preprocessing(setup):
    model, _, _ = setup
    bad = random_preprocessing(seed=1)
    bad.transforms["aus"].scale[3] = 0.0
    with pytest.raises(ValueError, match="scale"):
        FoldedFusion(model, bad)
    bad = random_preprocessing(seed=1)
    bad.transforms["audio"].median[0] = np.nan
    with pytest.raises(ValueError, match="audio.*median"):
        FoldedFusion(model, bad)
    narrow = random_preprocessing(seed=1, components={"visual": 10})
    with pytest.raises(ValueError, match="first Linear takes 100 inputs but the preprocessing gives 10"):
        FoldedFusion(model, narrow)


def test_fusion_graph_has_imputation_and_no_pca(tmp_path, setup):
    """The ONNX graph: one IsNaN/Where on the raw input, first MatMuls on raw widths, nothing (d, k)."""
    import onnx
    from onnx import numpy_helper

    from tqscore.export.graphs import GRAPHS, example_inputs, export_graph
    from tqscore.onnx_export import OPSET

    _, preprocessing, folded = setup
    path = export_graph(GRAPHS["fusion"], folded, tmp_path / "fusion.onnx", example_inputs("fusion"))
    graph = onnx.load(path)
    assert graph.opset_import[0].version >= OPSET >= 17
    ops = [n.op_type for n in graph.graph.node]
    assert ops.count("IsNaN") == 1 and ops.count("Where") == 1
    assert graph.graph.node[[n.op_type for n in graph.graph.node].index("IsNaN")].input[0] == "features"
    shapes = {tuple(numpy_helper.to_array(i).shape) for i in graph.graph.initializer}
    for m in STREAM_NAMES:
        t = preprocessing.transforms[m]
        assert (t.in_width, folded.model.embed[m][0].out_features) in shapes  # folded Linear on the raw stream
        if t.has_pca:
            assert (t.in_width, t.out_width) not in shapes and (t.out_width, t.in_width) not in shapes
