"""Human labels: reading CSV / Parquet label tables and matching them to feature records.

polars reads both formats (the project's one table library). A table has a ``video`` column
and any subset of the five dimensions of ``tqscore.layout.LABELS``; -1.0, an empty cell or a
missing column means "no label", stored as ``MISSING_LABEL`` so that the loss masks it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import polars as pl

from tqscore.errors import TrainingError
from tqscore.layout import LABELS, MISSING_LABEL

log = logging.getLogger(__name__)

VIDEO_COLUMN = "video"
SCORE_RANGE = (1.0, 5.0)


class LabelError(TrainingError):
    """A label table cannot be used; the message names the file and the problem."""


@dataclass
class LabelTable:
    videos: list[str]
    values: np.ndarray  # (N, len(LABELS)) float32, MISSING_LABEL where missing
    source: str

    @property
    def present(self) -> np.ndarray:
        return self.values != MISSING_LABEL


def parse_label_map(text: str | None) -> dict[str, str]:
    """``"Video=video,Score=overall"`` -> ``{"Video": "video", "Score": "overall"}``."""
    if not text:
        return {}
    mapping = {}
    for item in text.split(","):
        src, sep, dst = item.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise LabelError(f"label map item {item!r} is not SOURCE=TARGET (e.g. Video=video,Score=overall)")
        mapping[src.strip()] = dst.strip()
    bad = sorted(set(mapping.values()) - set(LABELS) - {VIDEO_COLUMN})
    if bad:
        raise LabelError(f"label map targets {bad} are not '{VIDEO_COLUMN}' or one of {list(LABELS)}")
    return mapping


def _read_table(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise LabelError(f"{path}: label file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix in (".csv", ".tsv", ".txt"):
            return pl.read_csv(path, separator="\t" if suffix == ".tsv" else ",", infer_schema_length=None)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise LabelError(f"{path}: cannot read the label table: {exc}") from exc
    raise LabelError(f"{path}: unsupported label file type {suffix!r}; use .csv, .tsv or .parquet")


def load_labels(path: str | Path, label_map: dict[str, str] | str | None = None,
                scale: tuple[float, float] | None = None) -> LabelTable:
    """The label table at ``path``; ``scale`` = (low, high) declares the file's own opinion scale
    (THQA-NTIRE's is 0-5), checked and mapped linearly onto the model's 1-5."""
    path = Path(path)
    low, high = scale or SCORE_RANGE
    mapping = parse_label_map(label_map) if isinstance(label_map, str) or label_map is None else label_map
    df = _read_table(path)
    missing_src = sorted(set(mapping) - set(df.columns))
    if missing_src:
        raise LabelError(f"{path}: label map names columns {missing_src} that the table lacks (has {df.columns})")
    df = df.rename(mapping)
    if VIDEO_COLUMN not in df.columns:
        raise LabelError(f"{path}: no '{VIDEO_COLUMN}' column (columns: {df.columns}); map one with --label-map")
    dims = [d for d in LABELS if d in df.columns]
    if not dims:
        raise LabelError(f"{path}: none of the label columns {list(LABELS)} is present (columns: {df.columns})")
    videos = df[VIDEO_COLUMN].cast(pl.Utf8)
    if videos.null_count():
        raise LabelError(f"{path}: {videos.null_count()} rows have an empty '{VIDEO_COLUMN}'")
    dupes = videos.filter(videos.is_duplicated()).unique().to_list()
    if dupes:
        raise LabelError(f"{path}: videos listed more than once: {dupes[:5]}")
    values = np.full((df.height, len(LABELS)), MISSING_LABEL, np.float32)
    for dim in dims:
        try:
            col = df[dim].cast(pl.Float64, strict=True).fill_nan(None).fill_null(MISSING_LABEL).to_numpy()
        except pl.exceptions.PolarsError as exc:
            raise LabelError(f"{path}: column '{dim}' is not numeric: {exc}") from exc
        given = col != MISSING_LABEL
        out_of_range = given & ((col < low) | (col > high))
        if out_of_range.any():
            row = int(np.flatnonzero(out_of_range)[0])
            raise LabelError(
                f"{path}: column '{dim}' has {int(out_of_range.sum())} values outside {(low, high)} "
                f"(first: row {row}, {col[row]}); use -1.0 or an empty cell for a missing label, "
                "--scale LOW,HIGH for a file on another scale"
            )
        values[:, LABELS.index(dim)] = np.where(given, to_model_scale(col, (low, high)), col)
    log.info("%s: %d videos, dimensions %s", path, df.height, dims)
    return LabelTable(videos.to_list(), values, str(path))


def to_model_scale(values: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """Opinion scores on ``scale`` mapped linearly onto ``SCORE_RANGE`` (the BT.500 five grades)."""
    (low, high), (lo, hi) = scale, SCORE_RANGE
    return lo + (hi - lo) * (values - low) / (high - low)


def _variants(key: str) -> list[str]:
    """Names a labelled video may be listed under: relative path, without suffix, bare stem."""
    p = PurePosixPath(key.replace("\\", "/").removeprefix("./"))
    return [str(p), str(p.with_suffix("")), p.name, p.stem]


def match_labels(record_keys: list[str], labels: LabelTable) -> tuple[list[int], np.ndarray]:
    """Pair records with label rows.

    Record keys are video paths relative to the extract root; a label table may list the same
    video by that path, the path without extension, the file name or the bare stem. A bare
    name that fits several records is ambiguous and is not used. Returns the record indices
    that have a label row, and their (M, 5) label values.
    """
    levels: list[dict[str, int | None]] = [{} for _ in range(4)]
    for i, key in enumerate(record_keys):
        for level, name in zip(levels, _variants(key)):
            level[name] = None if name in level and level[name] != i else i  # None: ambiguous

    def find(video: str) -> int | None:
        names = _variants(video)
        for level in levels:  # the most specific spelling that identifies one record wins
            for name in names:
                if level.get(name) is not None:
                    return level[name]
        return None

    chosen: dict[int, int] = {}
    unmatched = []
    for row, video in enumerate(labels.videos):
        hit = find(video)
        if hit is None:
            unmatched.append(video)
        elif hit in chosen:
            raise LabelError(f"{labels.source}: '{video}' and '{labels.videos[chosen[hit]]}' name the same record")
        else:
            chosen[hit] = row
    if not chosen:
        raise LabelError(
            f"{labels.source}: none of its {len(labels.videos)} videos matches a feature record "
            f"(e.g. label '{labels.videos[0]}' vs record '{record_keys[0] if record_keys else '-'}')"
        )
    if unmatched:
        log.warning("%s: %d labelled videos have no feature record, e.g. %s", labels.source, len(unmatched), unmatched[:3])
    unlabelled = len(record_keys) - len(chosen)
    if unlabelled:
        log.warning("%d feature records have no label row and are not used", unlabelled)
    order = sorted(chosen)
    return order, labels.values[[chosen[i] for i in order]]
