"""Frame and mouth strips of one clip, decoded again for the report's worst clips only.

The batch keeps no pictures (a row is numbers), so the few clips the report shows are decoded
again through ``tqscore.media`` and Face Mesh of ``tqscore.features``, the same decoder and
landmarks the scores came from: ``N_FRAMES`` frames spread evenly over the standard clip, and
the mouth cut from each of them. Each strip is one small JPEG (OpenCV encodes it; it is already
a dependency), so a page with 60 worst clips stays a few MB.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tqscore.features.crops import crop_square
from tqscore.signals.geometry import INNER_LIP, MOUTH_CORNERS

N_FRAMES = 8  # one frame every ~0.75 s of a 6-s standard clip: enough to see a freeze or a drift
FRAME_HEIGHT = 96  # px per frame in the strip; a 16:9 frame is then 171 px wide
MOUTH_SIZE = 64  # px square per mouth crop
# Mouth crop side = this times the mouth-corner distance: the lips with about half a mouth
# width of skin around them, so opening and closing are visible (a framing choice for people).
MOUTH_MARGIN = 1.8
GAP = 2  # px of white between tiles
JPEG_QUALITY = 75  # libjpeg's usual web quality; thumbnails stay ~2-6 KB per tile


@dataclass
class Strips:
    frames: str  # JPEG data URI
    mouths: str  # JPEG data URI
    thumb: str  # JPEG data URI: the middle frame of the strip, for the first screen's list
    times_s: list[float]
    faces_found: int


def clip_strips(path: Path, n_frames: int = N_FRAMES) -> Strips:
    """Strips for the video at ``path``. Raises MediaError for a file that cannot be decoded."""
    from tqscore.features.landmarks import FaceMeshTracker
    from tqscore.media import open_clip

    with open_clip(path, backend="pyav") as clip:
        pick = np.unique(np.linspace(0, clip.n_valid - 1, n_frames).round().astype(np.int64))
        chosen = dataclasses.replace(clip, frame_indices=clip.frame_indices[pick], frame_times=clip.frame_times[pick])
        frames = np.concatenate(list(chosen.iter_frames(chunk=len(pick))))
        times = chosen.frame_times.tolist()
        width, height = clip.info.width, clip.info.height
    with FaceMeshTracker() as tracker:
        landmarks, found = tracker.process(frames)
    tiles = [_resize_height(frame, FRAME_HEIGHT) for frame in frames]
    mouths = [_mouth(frame, points, width, height) if ok else _blank(MOUTH_SIZE)
              for frame, points, ok in zip(frames, landmarks, found)]
    return Strips(_jpeg(_hstack(tiles)), _jpeg(_hstack(mouths)), _jpeg(tiles[len(tiles) // 2]),
                  [round(t, 2) for t in times], int(found.sum()))


def _mouth(frame: np.ndarray, points: np.ndarray, width: int, height: int) -> np.ndarray:
    xy = points[:, :2] * np.array([width, height], np.float32)
    centre = xy[list(INNER_LIP)].mean(axis=0)
    side = float(np.linalg.norm(xy[MOUTH_CORNERS[0]] - xy[MOUTH_CORNERS[1]])) * MOUTH_MARGIN
    return crop_square(frame, np.array([centre[0], centre[1], max(side, 8.0)], np.float32), MOUTH_SIZE)


def _resize_height(frame: np.ndarray, height: int) -> np.ndarray:
    width = max(1, round(frame.shape[1] * height / frame.shape[0]))
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)


def _blank(size: int) -> np.ndarray:
    return np.full((size, size, 3), 200, np.uint8)


def _hstack(tiles: list[np.ndarray]) -> np.ndarray:
    height = max(t.shape[0] for t in tiles)
    gap = np.full((height, GAP, 3), 255, np.uint8)
    parts = []
    for i, tile in enumerate(tiles):
        if i:
            parts.append(gap)
        parts.append(tile)
    return np.concatenate(parts, axis=1)


def _jpeg(rgb: np.ndarray) -> str:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode("ascii")
