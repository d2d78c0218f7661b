"""Label files as people publish them: opinion scores per clip, or pairwise judgements.

Two kinds of CSV (or tab-separated) table are read:

- **opinion scores**: a file column (``path`` or ``video``) and one column per dimension of
  :data:`tqscore.layout.LABELS`; ``--label-map`` renames columns, e.g. ``Video=path,Score=overall``.
  Every value must lie on the declared scale (``--scale LOW,HIGH``, default 1-5); an empty cell
  is "not rated" for that dimension.
- **pairwise judgements**: ``dimension,video_a,video_b`` and either ``votes_a,votes_b`` (how
  many raters preferred each side) or ``winner`` (``a``, ``b``, ``tie``, or the winning clip's
  path). A label-map entry whose source is not a column maps a dimension name of the file onto
  one of ours (``head_motion=expression``).

Known public formats are recognised by their header and read as they are: THQA-NTIRE
(``Video,Score``: a 0-5 mean opinion score, the NTIRE 2025 talking-head track) and the ADTH-QA
study's pairs (its questions ``lip_sync``, ``head_motion``, ``visual_quality`` map onto our
``lip_sync``, ``expression``, ``overall``: head movement is the expression score's main
evidence, visual quality the overall score's).

Python's ``csv`` module reads the files rather than polars because it reports the line each
record ends on, and every error here names the file and that line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tqscore.errors import TqscoreError
from tqscore.layout import LABELS


class CalibrationError(TqscoreError):
    """A label file, scores table or calibration file that cannot be used (tqscore.calibration)."""


FILE_COLUMNS = ("path", "video")
PAIR_COLUMNS = ("dimension", "video_a", "video_b", "votes_a", "votes_b", "winner")
DEFAULT_SCALE = (1.0, 5.0)  # the BT.500 five-grade scale tqscore's scores use
GROUP_BY = ("auto", "video", "folder", "name", "generator")  # cross-validation units (tqscore.calibration.calibrate)


@dataclass(frozen=True)
class KnownFormat:
    name: str
    header: tuple[str, ...]
    label_map: dict[str, str]
    scale: tuple[float, float]


KNOWN_FORMATS = (
    KnownFormat("THQA-NTIRE", ("Video", "Score"), {"Video": "path", "Score": "overall"}, (0.0, 5.0)),
    KnownFormat("ADTH-QA", ("dimension", "video_a", "video_b", "votes_a", "votes_b"),
                {"head_motion": "expression", "visual_quality": "overall"}, DEFAULT_SCALE),
)


@dataclass
class Opinion:
    line: int
    video: str  # normalised relative path, as written in the file
    values: dict[str, float]  # dimension -> score on the file's scale


@dataclass
class Pair:
    line: int
    dimension: str  # ours (tqscore.layout.LABELS)
    question: str  # the file's own dimension name, e.g. head_motion
    video_a: str
    video_b: str
    votes_a: float
    votes_b: float


@dataclass
class LabelSet:
    source: Path
    kind: str  # "opinion" or "pairs"
    scale: tuple[float, float]
    format: str  # a KnownFormat's name or "generic"
    opinions: list[Opinion] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.source.parent

    def videos(self) -> list[tuple[int, str]]:
        """(line, video) for every clip the file names, in file order, each video once."""
        seen: dict[str, int] = {}
        rows = ([(o.line, o.video) for o in self.opinions] if self.kind == "opinion"
                else [(p.line, v) for p in self.pairs for v in (p.video_a, p.video_b)])
        for line, video in rows:
            seen.setdefault(video, line)
        return [(line, video) for video, line in seen.items()]

    def dimensions(self) -> list[str]:
        found = {d for o in self.opinions for d in o.values} | {p.dimension for p in self.pairs}
        return [d for d in LABELS if d in found]


def parse_label_map(text: str | None) -> dict[str, str]:
    """``"Video=path,Score=overall"`` -> ``{"Video": "path", "Score": "overall"}``."""
    mapping: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        src, sep, dst = item.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise CalibrationError(f"--label-map item {item!r} is not SOURCE=TARGET (e.g. Video=path,Score=overall)")
        mapping[src.strip()] = dst.strip()
    allowed = set(LABELS) | set(FILE_COLUMNS) | set(PAIR_COLUMNS)
    bad = sorted(set(mapping.values()) - allowed)
    if bad:
        raise CalibrationError(f"--label-map targets {bad} are none of {sorted(allowed)}")
    return mapping


def parse_scale(text: str | None) -> tuple[float, float] | None:
    """``"0,5"`` -> ``(0.0, 5.0)``; None when not given."""
    if not text:
        return None
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise CalibrationError(f"--scale {text!r} is not LOW,HIGH (e.g. 0,5)") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise CalibrationError(f"--scale {text!r}: LOW must be below HIGH")
    return low, high


def normalise_video(text: str) -> str:
    """A file name as written in a label file, as a clean POSIX relative path."""
    return str(PurePosixPath(text.strip().replace("\\", "/").removeprefix("./")))


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (line, record) of a CSV/TSV file; the line is where the record ends."""
    if not path.is_file():
        raise CalibrationError("label file not found", path)
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            rows = [(reader.line_num, rec) for rec in reader if any((v or "").strip() for v in rec.values())]
    except UnicodeDecodeError:
        raise CalibrationError("not UTF-8 text; a label file is a CSV", path) from None
    except csv.Error as exc:
        raise CalibrationError(f"not a readable CSV: {exc}", path) from None
    if not header:
        raise CalibrationError("empty file: no header line", path)
    return header, rows


def _known(header: list[str]) -> KnownFormat | None:
    return next((k for k in KNOWN_FORMATS if tuple(header) == k.header), None)


def load_labels(path: str | Path, label_map: str | dict | None = None,
                scale: tuple[float, float] | None = None) -> LabelSet:
    """Read and check one label file; every problem is a CalibrationError naming the file and line."""
    path = Path(path)
    header, rows = _read_rows(path)
    known = _known(header)
    mapping = parse_label_map(label_map) if isinstance(label_map, str) or label_map is None else dict(label_map)
    if known is not None:
        mapping = {**known.label_map, **mapping}  # the user's entries win
    columns = {src: dst for src, dst in mapping.items() if src in header}
    renamed = [columns.get(h, h) for h in header]
    chosen_scale = scale or (known.scale if known else DEFAULT_SCALE)
    fmt = known.name if known else "generic"
    if "video_a" in renamed or "video_b" in renamed:
        values = {src: dst for src, dst in mapping.items() if src not in header}
        bad = sorted(dst for dst in values.values() if dst not in LABELS)
        if bad:
            raise CalibrationError(f"--label-map maps pair dimensions onto {bad}, which are not in {list(LABELS)}",
                                   path)
        labels = LabelSet(path, "pairs", chosen_scale, fmt)
        labels.pairs = _pairs(path, renamed, rows, columns, values)
    else:
        unused = sorted(set(mapping) - set(header))
        if unused:
            raise CalibrationError(f"--label-map names columns {unused} that the file lacks (header: {header})", path)
        labels = LabelSet(path, "opinion", chosen_scale, fmt)
        labels.opinions = _opinions(path, renamed, rows, columns, chosen_scale)
    if not (labels.opinions or labels.pairs):
        raise CalibrationError("no labelled rows under the header", path)
    return labels


def _field(rec: dict[str, str], columns: dict[str, str], name: str) -> str:
    for src, dst in columns.items():
        if dst == name:
            return (rec.get(src) or "").strip()
    return (rec.get(name) or "").strip()


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CalibrationError(f"line {line}: {column} {text!r} is not a number", path) from None
    if not math.isfinite(value):
        raise CalibrationError(f"line {line}: {column} is {text!r}, not a finite number", path)
    return value


def _opinions(path: Path, renamed: list[str], rows, columns, scale) -> list[Opinion]:
    file_col = next((c for c in FILE_COLUMNS if c in renamed), None)
    if file_col is None:
        raise CalibrationError(f"no file column ('path' or 'video') in header {renamed}; map one with --label-map "
                               "(e.g. Video=path)", path)
    dims = [d for d in LABELS if d in renamed]
    if not dims:
        raise CalibrationError(f"no score column: the header {renamed} names none of {list(LABELS)}; map one with "
                               "--label-map (e.g. Score=overall)", path)
    out: list[Opinion] = []
    first: dict[str, int] = {}
    low, high = scale
    for line, rec in rows:
        video = _field(rec, columns, file_col)
        if not video:
            raise CalibrationError(f"line {line}: the {file_col} cell is empty", path)
        video = normalise_video(video)
        if video in first:
            raise CalibrationError(f"line {line}: {video} is listed again (first on line {first[video]})", path)
        first[video] = line
        values = {}
        for dim in dims:
            text = _field(rec, columns, dim)
            if not text:
                continue
            value = _number(path, line, dim, text)
            if not low <= value <= high:
                raise CalibrationError(f"line {line}: {dim} {value:g} is outside the declared scale {low:g}-{high:g} "
                                       "(declare another with --scale LOW,HIGH)", path)
            values[dim] = value
        out.append(Opinion(line, video, values))
    return out


def _votes(path: Path, line: int, rec, columns, a: str, b: str) -> tuple[float, float]:
    winner = _field(rec, columns, "winner")
    votes_a, votes_b = _field(rec, columns, "votes_a"), _field(rec, columns, "votes_b")
    if votes_a or votes_b:
        va, vb = _number(path, line, "votes_a", votes_a), _number(path, line, "votes_b", votes_b)
        if va < 0 or vb < 0 or va + vb <= 0:
            raise CalibrationError(f"line {line}: votes {va:g} and {vb:g}: they must be non-negative with at least "
                                   "one", path)
        return va, vb
    if not winner:
        raise CalibrationError(f"line {line}: neither votes_a/votes_b nor winner is given", path)
    choice = winner.lower()
    if choice == "a" or normalise_video(winner) == a:
        return 1.0, 0.0
    if choice == "b" or normalise_video(winner) == b:
        return 0.0, 1.0
    if choice == "tie":
        return 0.5, 0.5
    raise CalibrationError(f"line {line}: winner {winner!r} is none of a, b, tie or one of the two clips", path)


def _pairs(path: Path, renamed: list[str], rows, columns, dimension_map: dict[str, str]) -> list[Pair]:
    missing = [c for c in ("dimension", "video_a", "video_b") if c not in renamed]
    if missing:
        raise CalibrationError(f"a pairs file needs columns {missing} (header: {renamed})", path)
    if "winner" not in renamed and not {"votes_a", "votes_b"} <= set(renamed):
        raise CalibrationError(f"a pairs file needs votes_a and votes_b, or winner (header: {renamed})", path)
    out: list[Pair] = []
    first: dict[tuple, int] = {}
    for line, rec in rows:
        theirs = _field(rec, columns, "dimension")
        dim = dimension_map.get(theirs, theirs)
        if dim not in LABELS:
            raise CalibrationError(f"line {line}: dimension {theirs!r} is not one of {list(LABELS)}; map it with "
                                   f"--label-map {theirs or 'NAME'}=<one of them>", path)
        a, b = (normalise_video(_field(rec, columns, c)) for c in ("video_a", "video_b"))
        if not _field(rec, columns, "video_a") or not _field(rec, columns, "video_b"):
            raise CalibrationError(f"line {line}: video_a or video_b is empty", path)
        if a == b:
            raise CalibrationError(f"line {line}: the pair names {a} twice", path)
        key = (theirs, *sorted((a, b)))
        if key in first:
            raise CalibrationError(f"line {line}: the {theirs} pair {a} / {b} is listed again (first on line "
                                   f"{first[key]})", path)
        first[key] = line
        out.append(Pair(line, dim, theirs, a, b, *_votes(path, line, rec, columns, a, b)))
    return out
