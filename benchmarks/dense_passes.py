"""One dense pass per clip, saved once, for the studies that re-run signal code on parts of clips.

``sync_short.py`` and ``head_ranges.py`` cut every recording into many windows. Decoding and
Face-Meshing the clips again for each study costs about ten minutes on 2 cores; reading their saved
dense passes, seconds. One ``.npz`` per clip, NumPy arrays only (read without pickle):

- ``times`` (s), ``landmarks`` (n x 468 x 3, Face Mesh), ``face_found`` (n), ``fps``, ``aspect``
  (width / height): the dense pass ``tqscore.signals`` reads (``run_frontend(..).signal``);
- ``audio``: float32 mono at 16 kHz over the dense span (empty without audio);
- ``speech``: the Silero VAD's speech mask at the dense times;
- ``path``: the clip's path relative to ``../shared`` (as given, for a clip elsewhere).

    python benchmarks/dense_passes.py --out DIR            # every clip in ../shared (resumable, ~10 min on 2 cores)
    python benchmarks/dense_passes.py CLIP ... --out DIR
    python benchmarks/dense_passes.py --smoke              # the 4-s smoke clip, saved and read back
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

import common
from tqscore.layout import SAMPLE_RATE

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg"}
FIELDS = ("times", "landmarks", "face_found", "fps", "aspect", "audio", "speech", "path")


def shared_clips() -> list[Path]:
    """Every clip in ../shared (media, corpus, validation)."""
    return sorted(p for folder in ("media", "corpus", "validation") for p in (common.SHARED / folder).rglob("*")
                  if p.suffix.lower() in VIDEO_SUFFIXES)


def relative_name(path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(common.SHARED.resolve()).as_posix()
    except ValueError:
        return str(path)


def analyse(path: Path, vad=None) -> dict:
    """The dense pass and speech mask of one clip, as ``tqscore.signals`` computes them (without
    ``vad``, a Silero VAD session, the mask is all False)."""
    from tqscore.features.frontend import run_frontend
    from tqscore.signals.vad import frame_mask

    fe = run_frontend(path, model_inputs=False, observers=[])
    frames, info = fe.signal, fe.clip.info
    audio = fe.clip.audio[: int(round(frames.span_s * SAMPLE_RATE))] if info.has_audio else np.zeros(0, np.float32)
    speech = (frame_mask(vad.segments(audio), frames.times, frames.fps) if len(audio) and vad is not None
              else np.zeros(len(frames.times), bool))
    return {"times": frames.times, "landmarks": frames.landmarks, "face_found": frames.face_found,
            "fps": float(frames.fps), "aspect": info.width / info.height, "audio": audio,
            "speech": speech.astype(bool), "path": relative_name(path)}


def save(dense: dict, dst: Path) -> Path:
    """Written under a temporary name and renamed, so a killed run leaves no half file."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp.npz")
    np.savez_compressed(tmp, **{name: np.asarray(dense[name]) for name in FIELDS})
    os.replace(tmp, dst)
    return dst


def load(path: Path) -> dict:
    """A saved dense pass: arrays, with ``fps`` and ``aspect`` as floats and ``path`` as text."""
    with np.load(path, allow_pickle=False) as d:
        dense = {name: d[name] for name in FIELDS}
    dense["fps"], dense["aspect"], dense["path"] = float(dense["fps"]), float(dense["aspect"]), str(dense["path"])
    dense["face_found"], dense["speech"] = dense["face_found"].astype(bool), dense["speech"].astype(bool)
    return dense


def file_name(rel: str) -> str:
    return rel.replace("/", "__") + ".npz"


def save_all(clips: list[Path], out: Path) -> None:
    from tqscore.signals.vad import SileroVad

    vad = SileroVad()
    for i, clip in enumerate(clips, 1):
        dst = out / file_name(relative_name(clip))
        if dst.exists():
            continue
        try:
            save(analyse(clip, vad), dst)
        except Exception as exc:  # one unreadable clip is a line, not a lost night
            print(f"{i}/{len(clips)} {clip}: skipped: {exc}", flush=True)
            continue
        print(f"{i}/{len(clips)} {dst.name}", flush=True)


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("clips", nargs="*", type=Path, help="clips to analyse (default: every clip in ../shared)")
    p.add_argument("--out", type=Path, help="folder of .npz files (a clip already saved there is skipped)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            clip = common.smoke_clip(Path(tmp))
            save_all([clip], Path(tmp) / "dense")
            back = load(Path(tmp) / "dense" / file_name(relative_name(clip)))
        print(f"{back['path']}: {len(back['times'])} dense frames, {back['face_found'].mean():.0%} with a face, "
              f"{len(back['audio']) / SAMPLE_RATE:.1f} s of audio, {back['speech'].mean():.0%} speech")
        return 0
    if args.out is None:
        p.error("--out DIR is required (except with --smoke)")
    save_all(args.clips or shared_clips(), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
