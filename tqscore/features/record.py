"""The feature record: one safetensors file per video, the unit training reads.

safetensors because it is a flat, memory-mappable tensor file that cannot run code when
loaded (unlike pickle), readable from numpy, torch and Rust alike, with a free-form JSON header
for the metadata. A record holds:

- the four streams of ``tqscore.layout.STREAMS``, each (T, width) float32, zeros on padding;
- the masks ``frame_mask`` and ``face_mask``, each (T,) uint8;
- JSON metadata under the header key ``tqscore``: ``layout_version``, ``clip`` (the ClipInfo
  fields), ``source`` (path, size_bytes, mtime_ns), ``backbones`` (visual / audio ids or
  paths), ``signals`` (a dict of extra scalar facts that ``tqscore.signals`` may fill), and
  ``timings_ms``.

``load_record`` refuses a record of another layout version.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tqscore.errors import FeatureError
from tqscore.io import atomic_write, json_default
from tqscore.layout import (
    FEATURE_DTYPE,
    LAYOUT_VERSION,
    MASK_DTYPE,
    MASKS,
    STREAM_NAMES,
    T,
    check_layout_version,
    stream_shape,
)

META_KEY = "tqscore"
RECORD_SUFFIX = ".safetensors"


class RecordError(FeatureError):
    """A record file that is missing arrays, has wrong shapes, or is not a record at all."""


@dataclass
class FeatureRecord:
    arrays: dict[str, np.ndarray]  # stream and mask name -> array
    meta: dict = field(default_factory=dict)

    def validate(self, what: str = "record", streams: Sequence[str] = STREAM_NAMES) -> None:
        for name in streams:
            array = self.arrays.get(name)
            if array is None or array.shape != stream_shape(name) or array.dtype != FEATURE_DTYPE:
                found = None if array is None else f"{array.shape} {array.dtype}"
                raise RecordError(f"{what}: stream '{name}' must be {stream_shape(name)} float32, found {found}")
        for name in MASKS:
            array = self.arrays.get(name)
            if array is None or array.shape != (T,) or array.dtype != MASK_DTYPE:
                found = None if array is None else f"{array.shape} {array.dtype}"
                raise RecordError(f"{what}: mask '{name}' must be ({T},) uint8, found {found}")

    @property
    def signals(self) -> dict:
        """Extra scalar facts about the clip (training-free signals); written with the record."""
        return self.meta.setdefault("signals", {})


def save_record(path: str | os.PathLike, record: FeatureRecord) -> Path:
    """Write ``record`` atomically: a temporary file in the same folder, then ``os.replace``."""
    from safetensors.numpy import save_file

    path = Path(path)
    record.validate(str(path))
    meta = {**record.meta, "layout_version": LAYOUT_VERSION}
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.ascontiguousarray(record.arrays[name]) for name in (*STREAM_NAMES, *MASKS)}
    with atomic_write(path) as tmp:
        save_file(arrays, str(tmp), metadata={META_KEY: json.dumps(meta, default=json_default)})
    return path


def read_meta(path: str | os.PathLike) -> dict:
    """The record's JSON metadata only (reads the header, not the arrays)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            header = handle.metadata() or {}
    except Exception as error:  # safetensors raises its own error types for non-records
        raise RecordError(f"{path}: not a readable feature record ({error})") from error
    if META_KEY not in header:
        raise RecordError(f"{path}: safetensors file without tqscore metadata; not a feature record")
    return json.loads(header[META_KEY])


def load_record(path: str | os.PathLike, streams: Sequence[str] = STREAM_NAMES) -> FeatureRecord:
    """Read one record (the named streams plus both masks); refuses another layout version."""
    from safetensors import safe_open

    meta = read_meta(path)
    check_layout_version(meta.get("layout_version"), f"feature record {path}")
    with safe_open(str(path), framework="np") as handle:
        names = set(handle.keys())
        missing = [n for n in (*streams, *MASKS) if n not in names]
        if missing:
            raise RecordError(f"{path}: record lacks {missing}")
        arrays = {name: handle.get_tensor(name) for name in (*streams, *MASKS)}
    record = FeatureRecord(arrays, meta)
    record.validate(str(path), streams)
    return record


@dataclass
class RecordBatch:
    """Many records stacked: streams[name] (N, T, width), masks[name] (N, T), one path per row."""

    streams: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    paths: list[str]
    metas: list[dict]


def load_records(paths: Sequence[str | os.PathLike], streams: Sequence[str] = STREAM_NAMES) -> RecordBatch:
    """Stack records into preallocated (N, T, width) arrays (no intermediate list of copies)."""
    n = len(paths)
    stacked = {name: np.zeros((n, *stream_shape(name)), FEATURE_DTYPE) for name in streams}
    masks = {name: np.zeros((n, T), MASK_DTYPE) for name in MASKS}
    metas = []
    for i, path in enumerate(paths):
        record = load_record(path, streams)
        for name in streams:
            stacked[name][i] = record.arrays[name]
        for name in MASKS:
            masks[name][i] = record.arrays[name]
        metas.append(record.meta)
    return RecordBatch(stacked, masks, [str(p) for p in paths], metas)
