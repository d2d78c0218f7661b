"""The per-clip front end (decode + Face Mesh + AUs + crops).

Two clips keep this fast: a square 256x256 one and a short non-square one (102 frames, so the
streams need padding). Every shared clip goes through the same code in test_extract_cli.py,
which checks landmarks, faces and AUs on all of them.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ALL_CLIPS

from tqscore.features.backbones import AudioBackbone, VisualBackbone
from tqscore.features.crops import CROP_FACE
from tqscore.features.frontend import run_frontend, streams_from_frontend
from tqscore.features.landmarks import face_mesh
from tqscore.layout import FACE_MASK, FRAME_MASK, STREAM_NAMES, T, stream_shape

CLIPS = [p for p in ALL_CLIPS if p.name in ("sadtalker_art2_radio31.mp4", "latentsync_demo1_out.mp4")]


@pytest.mark.parametrize("path", CLIPS, ids=lambda p: p.name)
def test_frontend_products(path, frontend_of):
    fe = frontend_of(path)
    n = fe.clip.n_valid
    assert 0 < n <= T and n == int(fe.clip.frame_mask.sum())
    assert fe.landmarks.shape == (n, 468, 3) and fe.landmarks.dtype == np.float32
    assert fe.face_found.shape == (n,) and fe.face_found.dtype == bool
    assert fe.crops.shape == (n, 224, 224, 3) and fe.crops.dtype == np.uint8
    assert fe.crop_kinds.shape == (n,)
    assert {"decode", "facemesh", "crops", "aus"} <= fe.timings_ms.keys()
    # Landmarks inside the frame where a face was found, exact zeros where not.
    xy = fe.landmarks[fe.face_found][..., :2]
    assert xy.size and xy.min() >= 0.0 and xy.max() <= 1.0
    assert not fe.landmarks[~fe.face_found].any()
    # AUs finite, in [0, 1], zero without a face.
    assert fe.aus.shape == (n, 17) and np.isfinite(fe.aus).all()
    assert fe.aus.min() >= 0.0 and fe.aus.max() <= 1.0
    assert not fe.aus[~fe.face_found].any()
    assert np.allclose(fe.aus[fe.face_found].max(axis=1), 1.0, atol=1e-5)
    # The crops follow the picture: a talking face is never one frozen image.
    assert np.abs(np.diff(fe.crops.astype(np.int16), axis=0)).max() > 0


@pytest.mark.parametrize("path", CLIPS, ids=lambda p: p.name)
def test_face_on_95_percent_of_frontal_frames_and_the_crop_holds_it(path, frontend_of):
    fe = frontend_of(path)
    assert fe.face_found.mean() >= 0.95
    assert (fe.crop_kinds[fe.face_found] == CROP_FACE).all()
    # Face Mesh finds the face again inside the crops: the crop is around the face.
    picked = np.linspace(0, fe.clip.n_valid - 1, 4).astype(int)
    _, found = face_mesh(fe.crops[picked])
    assert found.all()


def test_streams_pad_to_the_layout_with_masks(tiny_resnet_dir, tiny_hubert_dir, frontend_of):
    short = next(p for p in CLIPS if frontend_of(p).clip.n_valid < T)  # latentsync: 4.08 s
    fe = frontend_of(short)
    n = fe.clip.n_valid
    streams = streams_from_frontend(fe, VisualBackbone(str(tiny_resnet_dir)), AudioBackbone(str(tiny_hubert_dir)))
    for name in STREAM_NAMES:
        assert streams[name].shape == stream_shape(name) and streams[name].dtype == np.float32
        assert not streams[name][n:].any(), f"{name} padding must be zeros"
        assert np.isfinite(streams[name]).all()
    assert streams["visual"][:n].any(axis=1).all() and streams["audio"][:n].any(axis=1).all()
    np.testing.assert_array_equal(streams["landmarks"][:n], fe.landmarks.reshape(n, -1))
    np.testing.assert_array_equal(streams["aus"][:n], fe.aus)
    assert streams[FRAME_MASK].dtype == np.uint8 and streams[FRAME_MASK].sum() == n
    np.testing.assert_array_equal(streams[FACE_MASK][:n], fe.face_found.astype(np.uint8))
    assert not streams[FACE_MASK][n:].any()
    assert {"resnet", "hubert"} <= fe.timings_ms.keys()


def test_signals_only_frontend_makes_no_model_crops_and_the_same_dense_pass(frontend_of):
    """model_inputs=False (a run without engines) builds no 224x224 standard crops, and every
    product the signals read is what the full front end gives."""
    path = next(p for p in CLIPS if p.name == "latentsync_demo1_out.mp4")
    full, lean = frontend_of(path), run_frontend(path, model_inputs=False)
    assert lean.crops is None and lean.crop_kinds is None
    np.testing.assert_array_equal(lean.landmarks, full.landmarks)
    np.testing.assert_array_equal(lean.face_found, full.face_found)
    np.testing.assert_array_equal(lean.aus, full.aus)
    for name in ("times", "landmarks", "face_found", "pair_mad"):
        np.testing.assert_array_equal(getattr(lean.signal, name), getattr(full.signal, name))
    assert [o.result() for o in lean.signal.observers] == [o.result() for o in full.signal.observers]
    # Face Mesh's graph start and close are timed as Face Mesh, not left between the stages.
    assert lean.timings_ms["facemesh_start"] > 0
