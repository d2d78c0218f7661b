"""Shared helpers of the runtime tests: a folder of good and bad videos, and running `batch`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import polars as pl

from tqscore.testing.media_variants import remux, text_as_video, truncate, zero_byte

GOOD = ("sadtalker_art2_radio31.mp4", "WDA_KatieHill_000.mp4")
# Columns that legitimately differ between two runs over the same files.
RUN_COLUMNS = ("scored_at",)


def blank_clip(dst: Path, seconds: float = 2.0, size=(160, 96)) -> Path:
    """A landscape clip with no face in it (smooth colour noise) and a 440 Hz tone as audio."""
    rng = np.random.default_rng(0)
    fps = 25
    with av.open(str(dst), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        audio = out.add_stream("aac", rate=16000, layout="mono")
        for i in range(int(seconds * fps)):
            base = rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
            image = np.ascontiguousarray(np.kron(base, np.ones((8, 8, 1), np.uint8)))
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        t = np.arange(int(seconds * 16000)) / 16000
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="flt", layout="mono")
            frame.sample_rate = 16000
            frame.pts = start
            frame.time_base = Fraction(1, 16000)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return dst


def make_video_dir(root: Path, media: Path, grid: bool = False) -> dict[str, str]:
    """Good clips, bad files and a symlink loop under ``root``; returns {relative path: expected status}.
    ``grid``: also a GRID corpus clip (MPEG-1 in an .mpg program stream) from ../shared/validation."""
    clips = {p.name: p for p in sorted(media.glob("*/*.mp4"))}
    expected = {}
    for name in GOOD:
        os.symlink(clips[name], root / name)  # linked, as mounted datasets often are
        expected[name] = "ok"
    if grid:
        os.symlink(sorted((media.parent / "validation" / "real").glob("*.mpg"))[0], root / "grid.mpg")
        expected["grid.mpg"] = "ok"
    (root / "sub" / "deeper").mkdir(parents=True)
    remux(clips["sadtalker_camera_radio31.mp4"], root / "sub" / "no_audio.mp4", audio=False)
    expected["sub/no_audio.mp4"] = "ok"
    blank_clip(root / "sub" / "deeper" / "landscape.mp4")
    expected["sub/deeper/landscape.mp4"] = "no_face"
    truncate(clips["WDA_AlexandriaOcasioCortez_000.mp4"], root / "truncated.mp4")
    zero_byte(root / "empty.mp4")
    text_as_video(root / "notes.MP4")
    os.symlink(root / "deleted-meanwhile.mp4", root / "dangling.mp4")
    for name in ("truncated.mp4", "empty.mp4", "notes.MP4", "dangling.mp4"):
        expected[name] = "error"
    if os.geteuid() != 0:  # root reads everything, so the case only exists for other users
        locked = root / "sub" / "locked.mp4"
        locked.write_bytes((root / GOOD[0]).read_bytes())
        locked.chmod(0)
        expected["sub/locked.mp4"] = "error"
    (root / "README.txt").write_text("not a video")
    os.symlink(root, root / "sub" / "deeper" / "loop")  # a cycle back to the top
    return expected


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """``tqscore batch ...`` in a fresh interpreter (as a user runs it)."""
    return subprocess.run(
        [sys.executable, "-m", "tqscore.cli", "batch", *args, "--no-progress"],
        capture_output=True, text=True, timeout=timeout,
    )


def stable(table: pl.DataFrame) -> pl.DataFrame:
    """The columns that must match between two runs over the same files."""
    return table.drop(RUN_COLUMNS).drop([c for c in table.columns if c.startswith("ms_")]).sort("path")


def batch_that_dies_after_first_part(args: list[str], kill: str) -> str:
    """Python source running ``tqscore`` with ``args`` that executes ``kill`` (for example
    ``os.kill(os.getpid(), signal.SIGKILL)``) right after its first part file with rows is on
    disk: the same moment every time, whatever the machine's speed."""
    return textwrap.dedent(f"""
        import os, signal, sys
        from tqscore.cli import main
        from tqscore.runtime.store import ResultStore
        flush = ResultStore.flush
        def flush_then_die(self):
            had_rows = bool(self.pending)
            flush(self)
            if had_rows:
                {kill}
        ResultStore.flush = flush_then_die
        sys.exit(main({args!r}))
    """)
