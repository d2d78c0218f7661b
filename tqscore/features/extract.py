"""One feature record per video, resumable: the pipeline behind ``tqscore extract``.

For each video under VIDEO_DIR (recursively, by extension) the front end and both backbones
run and the record is written to ``FEATURE_DIR/records/<relative path>.safetensors`` (the
relative path keeps two ``a.mp4`` in different subfolders apart). Each finished file appends a
line to ``FEATURE_DIR/manifest.jsonl``; a second run skips every file whose latest line has the
same size, mtime and backbones (``--retry-errors`` re-tries failed ones, ``--overwrite`` redoes
everything). A bad file gets one error line naming it and the run goes on.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from tqscore.features.backbones import DEFAULT_HUBERT, DEFAULT_RESNET
from tqscore.features.manifest import MANIFEST_NAME, ManifestEntry, append_entry, read_feature_manifest
from tqscore.features.record import RECORD_SUFFIX, FeatureRecord, save_record
from tqscore.media.discovery import DEFAULT_EXTENSIONS, discover, normalize_extensions

if TYPE_CHECKING:
    from tqscore.features.frontend import Frontend

log = logging.getLogger(__name__)

RECORDS_DIR = "records"


@dataclass(frozen=True)
class ExtractOptions:
    resnet: str = DEFAULT_RESNET  # hub id or local folder
    hubert: str = DEFAULT_HUBERT
    device: str = "cpu"
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    overwrite: bool = False
    retry_errors: bool = False
    resnet_batch: int = 64
    progress: bool = True


@dataclass
class ExtractSummary:
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "no_face": 0, "error": 0})
    skipped: int = 0  # already done in an earlier run
    seconds: float = 0.0

    @property
    def processed(self) -> int:
        return sum(self.counts.values())

    def line(self, out_dir: Path) -> str:
        c = self.counts
        return (
            f"extract: {self.processed} processed ({c['ok']} ok, {c['no_face']} no_face, {c['error']} error), "
            f"{self.skipped} already done, {self.seconds:.1f} s; manifest {out_dir / MANIFEST_NAME}"
        )


def record_name(rel_path: str) -> str:
    """Where a video's record goes, relative to the feature folder."""
    return f"{RECORDS_DIR}/{rel_path}{RECORD_SUFFIX}"


def _is_done(entry: ManifestEntry | None, stat: os.stat_result, backbones: dict, out_dir: Path, options: ExtractOptions) -> bool:
    if options.overwrite or entry is None or not entry.same_source(stat.st_size, stat.st_mtime_ns, backbones):
        return False
    if entry.status == "error":
        return not options.retry_errors
    return entry.record is not None and (out_dir / entry.record).exists()


SignalsHook = Callable[["Frontend"], dict]
"""Called with a clip's front end; the returned dict of scalars goes into the record's ``signals``."""


def extract_folder(
    video_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: ExtractOptions = ExtractOptions(),
    signals: SignalsHook | None = None,
) -> ExtractSummary:
    """Extract every video under ``video_dir`` into ``out_dir``; see the module docstring."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from tqscore.features.backbones import AudioBackbone, VisualBackbone

    start = time.perf_counter()
    video_dir, out_dir = Path(video_dir).resolve(), Path(out_dir)
    files = discover(video_dir, normalize_extensions(options.extensions))
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST_NAME
    previous = read_feature_manifest(manifest)
    _warn_other_video_dir(previous, video_dir, manifest)
    backbones = {"visual": options.resnet, "audio": options.hubert}
    summary = ExtractSummary()
    todo = []
    for rel in files:
        try:
            stat = (video_dir / rel).stat()
        except OSError:
            todo.append(rel)  # a dangling link: processing it records the error
            continue
        if _is_done(previous.get(rel), stat, backbones, out_dir, options):
            summary.skipped += 1
        else:
            todo.append(rel)
    log.info("%d videos under %s: %d to do, %d already done", len(files), video_dir, len(todo), summary.skipped)
    if todo:
        visual = VisualBackbone(options.resnet, device=options.device, batch_size=options.resnet_batch)
        audio = AudioBackbone(options.hubert, device=options.device)
        bar = tqdm(todo, unit="video", desc="extract", disable=not options.progress)
        with logging_redirect_tqdm():  # per-file warnings print above the bar, not through it
            for rel in bar:
                entry = extract_one(video_dir, rel, out_dir, visual, audio, backbones, signals)
                append_entry(manifest, entry)
                summary.counts[entry.status] += 1
                bar.set_postfix(summary.counts, refresh=False)
    summary.seconds = time.perf_counter() - start
    return summary


def extract_one(
    video_dir: Path,
    rel: str,
    out_dir: Path,
    visual,
    audio,
    backbones: dict[str, str],
    signals: SignalsHook | None = None,
) -> ManifestEntry:
    """Features of one video written to its record; any failure becomes an error entry."""
    from tqscore.features.frontend import run_frontend, streams_from_frontend
    from tqscore.media import MediaError

    path = video_dir / rel
    start = time.perf_counter()
    entry = ManifestEntry(
        path=rel, video_dir=str(video_dir), record=None, status="error", error=None,
        size_bytes=0, mtime_ns=0, backbones=backbones,
    )
    try:
        stat = path.stat()
        entry.size_bytes, entry.mtime_ns = stat.st_size, stat.st_mtime_ns
        frontend = run_frontend(path)
        extra = dict(signals(frontend)) if signals else {}
        arrays = streams_from_frontend(frontend, visual, audio)
        info = frontend.clip.info
        meta = {
            "clip": asdict(info),
            "source": {"path": str(path), "size_bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns},
            "backbones": backbones,
            "face_frames": int(frontend.face_found.sum()),
            "signals": extra,
            "timings_ms": frontend.timings_ms,
        }
        save_record(out_dir / record_name(rel), FeatureRecord(arrays, meta))
        entry.record = record_name(rel)
        entry.n_valid, entry.face_frames = frontend.clip.n_valid, meta["face_frames"]
        entry.status = "ok" if entry.face_frames else "no_face"
    except MediaError as error:
        entry.error = str(error)
    except OSError as error:
        entry.error = f"{path}: {error.strerror or error}"
    except Exception as error:  # one bad file must not stop the folder; the manifest says why
        log.debug("extract failed on %s", path, exc_info=True)
        entry.error = f"{path}: {type(error).__name__}: {error}"
    if entry.error:
        log.warning("%s", entry.error)
    entry.seconds = round(time.perf_counter() - start, 3)
    entry.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return entry


def _warn_other_video_dir(previous: dict[str, ManifestEntry], video_dir: Path, manifest: Path) -> None:
    others = {e.video_dir for e in previous.values()} - {str(video_dir)}
    if others:
        log.warning(
            "%s also lists videos from %s; records are keyed by relative path, so same-named files "
            "would replace each other; use one feature folder per video folder",
            manifest, ", ".join(sorted(others)),
        )
