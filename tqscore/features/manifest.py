"""The extract manifest: ``manifest.jsonl`` in the feature folder, one JSON line per finished file.

A line is appended (one ``write`` on an ``O_APPEND`` descriptor, then fsync) as soon as a
file is finished, so a killed run loses at most the file it was working on, and the next run
reads the manifest to skip what is done. Later lines win over earlier ones for the same path.
JSON lines rather than Parquet because appending one row must be cheap and crash-safe; a
half-written last line (a kill mid-write) is skipped with a warning.

Fields of a line: ``path`` (the video, relative to the video folder, POSIX separators),
``video_dir`` (absolute), ``record`` (relative to the feature folder; null on error),
``status`` (``ok`` | ``no_face`` | ``error``), ``error`` (message naming the file, or null),
``size_bytes`` and ``mtime_ns`` of the video when it was read, ``backbones`` ({visual, audio}),
``n_valid`` frames, ``face_frames``, ``seconds`` spent, ``finished_at`` (UTC, ISO 8601).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
STATUSES = ("ok", "no_face", "error")


@dataclass
class ManifestEntry:
    path: str
    video_dir: str
    record: str | None
    status: str
    error: str | None
    size_bytes: int
    mtime_ns: int
    backbones: dict[str, str]
    n_valid: int = 0
    face_frames: int = 0
    seconds: float = 0.0
    finished_at: str = ""

    def same_source(self, size_bytes: int, mtime_ns: int, backbones: dict[str, str]) -> bool:
        """Whether this entry was made from the same file content stamp with the same backbones."""
        return self.size_bytes == size_bytes and self.mtime_ns == mtime_ns and self.backbones == backbones


def append_entry(manifest: Path, entry: ManifestEntry) -> None:
    if entry.status not in STATUSES:
        raise ValueError(f"manifest status must be one of {STATUSES}, got {entry.status!r}")
    line = (json.dumps(asdict(entry), ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(manifest, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a killed run left half a line: end it, or this entry would join it
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_feature_manifest(manifest: Path) -> dict[str, ManifestEntry]:
    """The latest entry per video path; {} when there is no manifest yet."""
    entries: dict[str, ManifestEntry] = {}
    if not manifest.exists():
        return entries
    with open(manifest, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                entry = ManifestEntry(**json.loads(line))
            except (ValueError, TypeError) as error:
                log.warning("%s line %d is not a manifest entry (%s); ignoring it", manifest, number, error)
                continue
            entries[entry.path] = entry
    return entries


def ok_records(feature_dir: str | os.PathLike) -> list[Path]:
    """Record files of the videos whose latest status is ok, in path order (what training reads)."""
    feature_dir = Path(feature_dir)
    entries = read_feature_manifest(feature_dir / MANIFEST_NAME)
    return [feature_dir / e.record for _, e in sorted(entries.items()) if e.status == "ok" and e.record]
