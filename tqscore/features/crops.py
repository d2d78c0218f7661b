"""Face crops (224 x 224) from the Face Mesh box, and ImageNet normalisation.

The seed located the face with RetinaFace; Face Mesh already gives every point of the face, so
its bounding box (made square, with a margin) is the crop and no second detector runs. OpenCV
does the resizing: it is already a MediaPipe dependency and resizes a frame in well under a
millisecond.

Face lost for a few frames (a blink of the tracker, a hand in front): the last box is held for
up to ``hold_frames`` frames. Before the first face of a clip, or after a longer loss, the crop is
the centre square of the frame; ``CropTracker.kind`` records which of the three each crop was.

``normalize`` is the one definition of the ImageNet normalisation (docs/method.md §2): the PyTorch
backbone and the runtime's engines both call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CROP_SIZE = 224
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)

# Values of ``CropTracker.kinds`` per frame.
CROP_FACE, CROP_HELD, CROP_CENTRE = 0, 1, 2


@dataclass(frozen=True)
class CropConfig:
    margin: float = 1.3  # side of the square crop / longer side of the landmark box
    hold_frames: int = 12  # frames a lost face's last box is reused (0.5 s at 25 fps)
    smoothing: float = 0.5  # weight of the previous box in the running average (0 = none)


def landmark_box(landmarks: np.ndarray, width: int, height: int, margin: float) -> np.ndarray:
    """Square box (cx, cy, side) in pixels around one frame's landmarks (468, 3)."""
    xy = landmarks[:, :2] * np.array([width, height], np.float32)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    cx, cy = (lo + hi) / 2
    side = float(max(hi - lo)) * margin
    return np.array([cx, cy, max(side, 2.0)], np.float32)


def centre_box(width: int, height: int) -> np.ndarray:
    return np.array([width / 2, height / 2, min(width, height)], np.float32)


def crop_square(frame: np.ndarray, box: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Cut the square ``box`` (cx, cy, side) out of ``frame`` (zeros outside it), resized to size."""
    height, width = frame.shape[:2]
    cx, cy, side = (float(v) for v in box)
    side_px = max(int(round(side)), 1)
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    canvas = np.zeros((side_px, side_px) + frame.shape[2:], np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side_px, width), min(y0 + side_px, height)
    if sx1 > sx0 and sy1 > sy0:
        canvas[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    interpolation = cv2.INTER_AREA if side_px > size else cv2.INTER_LINEAR
    return cv2.resize(canvas, (size, size), interpolation=interpolation)


class CropTracker:
    """Turns each frame of ONE clip, in order, into a face crop; holds the box over short losses."""

    def __init__(self, width: int, height: int, config: CropConfig = CropConfig()):
        self.width, self.height, self.config = width, height, config
        self._box: np.ndarray | None = None
        self._missed = 0
        self.kinds: list[int] = []

    def next_box(self, landmarks: np.ndarray, found: bool) -> np.ndarray:
        """The crop box of the next frame, given its landmarks (468, 3) and whether a face was found."""
        cfg = self.config
        if found:
            box = landmark_box(landmarks, self.width, self.height, cfg.margin)
            if self._box is not None and self._missed == 0 and cfg.smoothing > 0:
                box = cfg.smoothing * self._box + (1 - cfg.smoothing) * box
            self._box, self._missed = box, 0
            self.kinds.append(CROP_FACE)
            return box
        self._missed += 1
        if self._box is not None and self._missed <= cfg.hold_frames:
            self.kinds.append(CROP_HELD)
            return self._box
        self._box = None
        self.kinds.append(CROP_CENTRE)
        return centre_box(self.width, self.height)

    def crop(self, frames: np.ndarray, landmarks: np.ndarray, found: np.ndarray) -> np.ndarray:
        """frames uint8 (k, H, W, 3) -> crops uint8 (k, 224, 224, 3)."""
        out = np.empty((len(frames), CROP_SIZE, CROP_SIZE, 3), np.uint8)
        for i, frame in enumerate(frames):
            out[i] = crop_square(frame, self.next_box(landmarks[i], bool(found[i])))
        return out


def normalize(crops: np.ndarray) -> np.ndarray:
    """uint8 (n, 224, 224, 3) RGB -> float32 (n, 3, 224, 224) with ImageNet mean / std."""
    x = crops.astype(np.float32) * np.float32(1 / 255)
    x -= IMAGENET_MEAN
    x /= IMAGENET_STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
