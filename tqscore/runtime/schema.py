"""The one definition of a ``tqscore batch`` output row: column names, polars dtypes, meanings.

The runtime builds rows against ``output_schema()``, the result store casts every table it
reads to it, and ``docs/runtime.md`` prints ``schema_table()``; nothing else restates a column.
Score columns come from ``tqscore.layout.LABELS`` and signal columns from
``tqscore.signals.SIGNAL_COLUMNS``, so a new label or signal appears here without an edit.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tqscore.layout import LABELS


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    description: str


# Row statuses. ``ok``: scored (or, without a model, analysed) normally. ``no_face``: Face Mesh
# found no face on any real frame, so the face-based scores would be noise: they are null, the
# metadata and audio signals are filled. ``error``: the file could not be analysed; ``error``
# says why (named file, cause).
STATUS_OK, STATUS_NO_FACE, STATUS_ERROR = "ok", "no_face", "error"
STATUSES: tuple[str, ...] = (STATUS_OK, STATUS_NO_FACE, STATUS_ERROR)

# Stages timed per clip (milliseconds). A visual batch holds frames of several clips; its time is
# split between them in proportion to their frames.
STAGES: tuple[tuple[str, str], ...] = (
    ("decode", "decoding to the standard clip (frames + 16 kHz audio), in a worker"),
    ("face_mesh", "Face Mesh landmarks and action units, in a worker"),
    ("crops", "224x224 face crops, in a worker"),
    ("signals", "training-free signals, in a worker"),
    ("visual", "ResNet101 engine, this clip's share of the batch"),
    ("audio", "HuBERT engine on this clip's windows"),
    ("fusion", "fusion engine on this clip"),
    ("total", "the worker's wall time on the clip plus its engine times (time spent queued excluded)"),
)

BASE_COLUMNS: tuple[Column, ...] = (
    Column("path", pl.String, "file path relative to the scanned directory (POSIX separators); bytes of a name "
           "that is not UTF-8 are written as \\xNN (path_bytes holds the name exactly)"),
    Column("path_bytes", pl.Binary, "the same relative path as the file system's bytes: the row's key, lossless "
           "for any file name"),
    Column("size_bytes", pl.Int64, "file size when scored"),
    Column("mtime", pl.Datetime("us", "UTC"), "file modification time when scored"),
    Column("status", pl.String, "one of " + ", ".join(STATUSES)),
    Column("error", pl.String, "what went wrong (null when status is ok)"),
    Column("duration_s", pl.Float64, "source duration in seconds"),
    Column("fps", pl.Float64, "source frame rate"),
    Column("width", pl.Int32, "display width in pixels (after rotation)"),
    Column("height", pl.Int32, "display height in pixels (after rotation)"),
    Column("video_codec", pl.String, "source video codec"),
    Column("frames_used", pl.Int32, "real (non-padding) frames of the 150-frame standard clip"),
    Column("has_audio", pl.Boolean, "the file has an audio stream"),
)
SCORE_COLUMNS: tuple[Column, ...] = tuple(
    Column(label, pl.Float32, f"{label} score, 1.0-5.0, from the engines or, without them, the reference scorer "
           "(docs/scores.md); null with its cause in reasons, or when status is error")
    for label in LABELS
)
# The rules of tqscore/model/rules.yaml (or --rules FILE), run on every row whoever scored it.
VERDICT_COLUMNS: tuple[Column, ...] = (
    Column("verdict", pl.String, "pass, review or fail: the most severe rule that fired (tqscore.model.rules)"),
    Column("reasons", pl.List(pl.String), "why, one \"code: text a person can act on\" per fired rule and per "
           "score left null (e.g. \"sound_late: sound 5 frames (200 ms) late\"); empty when nothing fired"),
    Column("score_causes", pl.List(pl.String), "the reasons that say why a score is null, kept apart so that every "
           "run applies its own rules to every row, resumed rows included, without analysing the file again"),
)
ID_COLUMNS: tuple[Column, ...] = (
    Column("model_id", pl.String, "id of the model bundle the engines were built from, or without engines the reference "
           "scorer's (tqscore.model.reference)"),
    Column("engine_id", pl.String, "id of the engine set that scored the row (null without a model)"),
    Column("tqscore_version", pl.String, "tqscore version that wrote the row"),
    Column("signals_id", pl.String, "signal definitions and real-footage reference the row was made with "
           "(tqscore.signals.signals_id); resume analyses a file again when the definitions (v1) differ, and "
           "grades its stored signals again when only the reference (ref...) does"),
    Column("scored_at", pl.Datetime("us", "UTC"), "when the row was made"),
)
STAGE_COLUMNS: tuple[Column, ...] = tuple(Column(f"ms_{name}", pl.Float32, text) for name, text in STAGES)
# Per-clip detail for the report, not a scalar signal (tqscore.signals.compute_signals' details).
DETAIL_COLUMNS: tuple[Column, ...] = (
    Column("sync_curve", pl.List(pl.Float32), "sync confidence (mean windowed canonical correlation) per A/V "
           "offset -15..+15 frames of 40 ms, the curve sync_offset_frames is the peak of; null without a sync estimate"),
)


def signal_columns() -> tuple[Column, ...]:
    from tqscore.signals import SIGNAL_COLUMNS

    return tuple(Column(c.name, _polars_dtype(c.dtype), _signal_text(c)) for c in SIGNAL_COLUMNS)


def columns() -> tuple[Column, ...]:
    return BASE_COLUMNS + SCORE_COLUMNS + VERDICT_COLUMNS + ID_COLUMNS + STAGE_COLUMNS + signal_columns() + DETAIL_COLUMNS


def output_schema() -> dict[str, pl.DataType]:
    return {c.name: c.dtype for c in columns()}


def schema_table() -> str:
    """The schema as a Markdown table (for docs/runtime.md); a ``|`` inside a cell is written ``\\|``."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    lines += [f"| `{c.name}` | {_dtype_text(c.dtype)} | {_cell(c.description)} |" for c in columns()]
    return "\n".join(lines)


def _cell(text: str) -> str:
    """``text`` as one Markdown table cell: an unescaped ``|`` would end the cell."""
    return text.replace("|", "\\|")


def _dtype_text(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return f"Datetime({dtype.time_unit}, {dtype.time_zone})"
    return str(dtype)


def _polars_dtype(dtype) -> pl.DataType:
    if isinstance(dtype, pl.DataType) or (isinstance(dtype, type) and issubclass(dtype, pl.DataType)):
        return dtype
    return {"float32": pl.Float32, "float64": pl.Float64, "int32": pl.Int32, "int64": pl.Int64,
            "bool": pl.Boolean, "str": pl.String}[str(dtype)]


def _signal_text(col) -> str:
    unit = getattr(col, "unit", None)
    text = getattr(col, "description", None) or getattr(col, "meaning", "") or ""
    return f"{text} ({unit})" if unit else text
