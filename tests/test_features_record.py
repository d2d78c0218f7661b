"""The feature record: round trip, atomic write, version check, stacking many records."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from tqscore.features.record import (
    META_KEY,
    FeatureRecord,
    RecordError,
    load_record,
    load_records,
    read_meta,
    save_record,
)
from tqscore.layout import FACE_MASK, FRAME_MASK, LAYOUT_VERSION, STREAM_NAMES, T, LayoutVersionError, stream_shape


def make_record(seed: int, n_valid: int = 100) -> FeatureRecord:
    rng = np.random.default_rng(seed)
    arrays = {name: np.zeros(stream_shape(name), np.float32) for name in STREAM_NAMES}
    for name in STREAM_NAMES:
        arrays[name][:n_valid] = rng.standard_normal((n_valid, stream_shape(name)[1]))
    frame_mask = np.zeros(T, np.uint8)
    frame_mask[:n_valid] = 1
    arrays[FRAME_MASK], arrays[FACE_MASK] = frame_mask, frame_mask.copy()
    return FeatureRecord(arrays, {"clip": {"fps": 25.0, "width": np.int64(512)}, "signals": {}})


def test_round_trip_keeps_arrays_and_metadata(tmp_path):
    record = make_record(0)
    record.signals["sync_offset_frames"] = 2.0
    path = save_record(tmp_path / "sub" / "a.mp4.safetensors", record)
    assert [p.name for p in path.parent.iterdir()] == ["a.mp4.safetensors"]  # no temporary left behind
    loaded = load_record(path)
    for name, array in record.arrays.items():
        np.testing.assert_array_equal(loaded.arrays[name], array)
        assert loaded.arrays[name].dtype == array.dtype
    assert loaded.meta["layout_version"] == LAYOUT_VERSION
    assert loaded.meta["clip"] == {"fps": 25.0, "width": 512}
    assert loaded.signals == {"sync_offset_frames": 2.0}
    assert read_meta(path) == loaded.meta


def test_wrong_shapes_are_refused_before_writing(tmp_path):
    record = make_record(0)
    record.arrays["audio"] = np.zeros((T, 512), np.float32)
    with pytest.raises(RecordError, match="stream 'audio' must be"):
        save_record(tmp_path / "bad.safetensors", record)
    assert not list(tmp_path.iterdir())


def test_another_layout_version_is_refused(tmp_path):
    path = save_record(tmp_path / "a.safetensors", make_record(0))
    arrays = load_record(path).arrays
    save_file(arrays, str(tmp_path / "old.safetensors"), metadata={META_KEY: json.dumps({"layout_version": LAYOUT_VERSION + 1})})
    with pytest.raises(LayoutVersionError, match="re-extract"):
        load_record(tmp_path / "old.safetensors")


def test_files_that_are_not_records_name_themselves(tmp_path):
    (tmp_path / "junk.safetensors").write_text("not a record")
    with pytest.raises(RecordError, match="junk.safetensors"):
        load_record(tmp_path / "junk.safetensors")
    save_file({"x": np.zeros(3, np.float32)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(RecordError, match="without tqscore metadata"):
        load_record(tmp_path / "plain.safetensors")


def test_load_records_stacks_streams_and_masks(tmp_path):
    records = [make_record(i, n_valid=50 + 40 * i) for i in range(3)]
    paths = [save_record(tmp_path / f"{i}.safetensors", r) for i, r in enumerate(records)]
    batch = load_records(paths)
    for name in STREAM_NAMES:
        assert batch.streams[name].shape == (3, *stream_shape(name))
        for i, record in enumerate(records):
            np.testing.assert_array_equal(batch.streams[name][i], record.arrays[name])
    assert batch.masks[FRAME_MASK].sum(axis=1).tolist() == [50, 90, 130]
    assert batch.paths == [str(p) for p in paths] and len(batch.metas) == 3
    only_aus = load_records(paths, streams=("aus",))
    assert list(only_aus.streams) == ["aus"]
