"""Picture quality of the face and the mouth, measured on the original decoded frames inside the
front end's chunk loop (``PictureStats``: running sums only, O(1) memory in the clip's length).

A blurred or smeared face, a mouth blurrier than the face around it (the classic artefact of
mouth inpainting), compression blocks, grain and frame-to-frame pulsing are what people notice
besides lip sync, and the model's 224-px crops have already lost most of it. Four measures
(derivations, validation and costs: docs/signals.md, "Picture quality"):

- **Sharpness** (``face_sharpness``, ``mouth_sharpness``, ``mouth_face_sharpness_ratio``): the
  luma of the face's box resampled so the face is ``FACE_PX`` wide, then the ratio of gradient
  energy at Gaussian scale ``FINE_SIGMA`` to that at ``COARSE_SIGMA``: a two-point slope of the
  radial power spectrum (Vu, Phan & Chandler 2012, "S3", IEEE TIP). For a 1/f^2 picture blurred
  with width b it is (4^2 + b^2) / (1^2 + b^2): 16 sharp, falling towards 1, independent of
  contrast. The face's value excludes the mouth region, so the ratio compares the mouth with the
  rest of the face; the clip's value is the geometric mean over every ``SHARPNESS_EVERY``-th face frame.
- **Blockiness**: mean |luma difference| across the 16-px grid lines over that between the other
  neighbours, on the face box (after Wang, Sheikh & Bovik 2002, ICIP). 16 px is H.264's
  macroblock: in-loop deblocking smooths the 4x4 / 8x8 edges inside it. 1 = no grid.
- **Face noise**: Immerkaer's fast noise estimate (CVIU 64(2), 1996) on the inner face's box at
  the original resolution, in grey levels; skin and edges add a floor, added noise adds in quadrature.
- **Temporal flicker**: RMS of the second difference of the inner face's mean luma over
  consecutive face frames, grey levels: slow lighting changes cancel, pulsing stays.

No NIQE or BRISQUE column: no package here ships their model parameters in a form this project
loads (OpenCV's contrib wheel lacks the LIVE model files, ``brisque`` keeps its scaling in a
pickle, scikit-video's code needs SciPy and NumPy functions long removed, pyiqa and piq need
torch, which serving workers lack).
"""

from __future__ import annotations

import cv2
import numpy as np

from tqscore.signals.head import RIGID_POINTS

LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
# The face's extent after resampling: 224 / 1.3, the face inside the model's 224-px crop
# (crops.CropConfig.margin = 1.3), so sharpness is judged at the scale the model sees faces.
FACE_PX = 172
# Gaussian scales (pixels of the FACE_PX face) of the two gradient energies whose ratio is the
# sharpness: the fine one is one pixel of the model's crop, the finest detail the model can see;
# the coarse one two octaves below it, so the ratio spans two octaves of the power spectrum.
FINE_SIGMA = 1.0
COARSE_SIGMA = 4.0
# The face box is cut with this many coarse sigmas around it, so the coarse Gaussian at the
# face's edge sees the picture, not a reflected border (a Gaussian's weight beyond 3 sigma: 0.3 %).
MARGIN_SIGMAS = 3.0
# Mouth region: the outer-lip hull scaled 1.5x about its centre: the lips plus the skin around
# them, where an inpainted mouth's seam lies.
MOUTH_REGION_SCALE = 1.5
# H.264's macroblock: the unit it predicts and codes; its in-loop deblocking filter smooths the
# 4x4 / 8x8 transform edges inside macroblocks. JPEG's and MPEG-2/4's 8x8 blocks fall on every
# other 16-px line, so their grid shows on this one too.
BLOCK = 16
MIN_BOX_PX = 16  # face boxes smaller than this in the original frame give no measure
# Sharpness is measured on every 2nd face frame: it is the costliest measure (a resampling and
# two Gaussians per frame; with every frame, PictureStats costs 1.7-2x a single 1-px Laplacian
# variance), and a face's sharpness changes over seconds, not from frame to frame:
# a 5-s clip at 25 fps still gives 62 measures.
SHARPNESS_EVERY = 2
# Immerkaer (1996)'s noise operator: the difference of two Laplacians, [1 -2 1]^T [1 -2 1],
# which cancels a picture's planar structure and keeps white noise; its mean |response| times
# sqrt(pi / 2) / 6 (the operator's gain: sqrt(36) for Gaussian noise's mean |x| = sigma sqrt(2 / pi))
# is the noise sigma.
NOISE_TAPS = np.array([1, -2, 1], np.float32)
NOISE_SCALE = np.sqrt(np.pi / 2) / 6
EPS = 1e-6

PICTURE_COLUMNS = ("face_sharpness", "mouth_sharpness", "mouth_face_sharpness_ratio", "blockiness",
                   "temporal_flicker", "face_noise")


def gradient_energy(image: np.ndarray, sigma: float) -> np.ndarray:
    """|gradient|^2 of ``image`` (float32) smoothed by a Gaussian of ``sigma`` px (central differences)."""
    smooth = cv2.GaussianBlur(image, (0, 0), sigma)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=1)
    return gx * gx + gy * gy


def _hull_mask(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return mask


def mouth_polygon(points_px: np.ndarray) -> np.ndarray:
    lips = points_px[list(LIPS_OUTER)]
    centre = lips.mean(axis=0)
    return centre + MOUTH_REGION_SCALE * (lips - centre)


def sharpness_pair(grey: np.ndarray, points_px: np.ndarray) -> tuple[float | None, float | None]:
    """(face, mouth) sharpness of one frame: gradient energy at ``FINE_SIGMA`` / at ``COARSE_SIGMA``
    inside the face hull less the mouth region, and inside the mouth region, on ``grey`` (uint8,
    holding the face and a margin) resampled so the face's extent is ``FACE_PX``. None where a
    region is empty or flat."""
    lo, hi = points_px.min(0), points_px.max(0)
    factor = FACE_PX / max(float(max(hi - lo)), EPS)
    margin = int(np.ceil(MARGIN_SIGMAS * COARSE_SIGMA / factor))
    x0, y0 = np.maximum(np.floor(lo).astype(int) - margin, 0)
    x1, y1 = np.minimum(np.ceil(hi).astype(int) + margin, grey.shape[::-1])
    region = grey[y0:y1, x0:x1]
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    size = (max(round(region.shape[1] * factor), 3), max(round(region.shape[0] * factor), 3))
    image = cv2.resize(region, size, interpolation=interpolation).astype(np.float32)
    points = (points_px - (x0, y0)) * (size[0] / region.shape[1], size[1] / region.shape[0])
    mouth = _hull_mask(image.shape, mouth_polygon(points))
    face = _hull_mask(image.shape, points) & (1 - mouth)
    fine, coarse = gradient_energy(image, FINE_SIGMA), gradient_energy(image, COARSE_SIGMA)
    out = []
    for mask in (face, mouth):
        low = cv2.mean(coarse, mask)[0]  # 0 for an empty mask
        out.append(cv2.mean(fine, mask)[0] / low if low > EPS else None)
    return out[0], out[1]


def noise_sigma(grey: np.ndarray) -> float | None:
    """Immerkaer (1996) noise sigma (grey levels) of ``grey`` (uint8), its border pixels left out."""
    if min(grey.shape) < 3:
        return None
    response = cv2.sepFilter2D(grey, cv2.CV_16S, NOISE_TAPS, NOISE_TAPS)[1:-1, 1:-1]
    return float(NOISE_SCALE * np.abs(response).mean())


def block_sums(grey: np.ndarray, x0: int, y0: int) -> tuple[float, int, float, int]:
    """(sum, count) of |differences| across the frame's ``BLOCK``-px grid lines and between the
    other neighbours, both directions, for a grey region whose top-left pixel is (x0, y0) of the frame."""
    # column c of dx: |pixel c+1 - pixel c| summed down the region; row r of dy likewise across it
    dx = cv2.reduce(cv2.absdiff(grey[:, 1:], grey[:, :-1]), 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    dy = cv2.reduce(cv2.absdiff(grey[1:], grey[:-1]), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    bx = (np.arange(dx.size) + x0) % BLOCK == BLOCK - 1
    by = (np.arange(dy.size) + y0) % BLOCK == BLOCK - 1
    edge = float(dx[bx].sum()) + float(dy[by].sum())
    inner = float(dx.sum()) + float(dy.sum()) - edge
    n_edge = int(bx.sum()) * grey.shape[0] + int(by.sum()) * grey.shape[1]
    return edge, n_edge, inner, dx.size * grey.shape[0] + dy.size * grey.shape[1] - n_edge


class PictureStats:
    """Accumulates one clip's picture signals over consecutive chunks of its original frames."""

    def __init__(self, width: int, height: int):
        self.width, self.height = int(width), int(height)
        self._log_face = self._log_mouth = 0.0
        self._n_face = self._n_mouth = 0
        self._edge = self._inner = 0.0
        self._n_edge = self._n_inner = 0
        self._noise, self._n_noise = 0.0, 0
        self._flicker_sq, self._n_flicker = 0.0, 0
        self._prev: list[float] = []  # mean inner-face luma of the last (up to) two face frames
        self._face_frames = 0

    def update(self, frames: np.ndarray, landmarks: np.ndarray, found: np.ndarray) -> None:
        """frames uint8 (k, H, W, 3) RGB at the original size; landmarks (k, 468, 3); found (k,)."""
        scale = np.array([self.width, self.height], np.float64)
        for frame, points, ok in zip(frames, landmarks, found):
            if not ok:
                self._prev = []
                continue
            px = points[:, :2].astype(np.float64) * scale
            face_lo = np.clip(np.floor(px.min(0)), 0, None).astype(int)
            face_hi = np.minimum(np.ceil(px.max(0)), [self.width, self.height]).astype(int)
            if min(face_hi - face_lo) < MIN_BOX_PX:
                self._prev = []
                continue
            # Only the face's box and the sharpness filters' margin are converted to grey: every
            # region lies inside it, and a 1080p frame's full conversion would cost more than the measures.
            margin = int(np.ceil(MARGIN_SIGMAS * COARSE_SIGMA * max(face_hi - face_lo) / FACE_PX))
            lo = np.maximum(face_lo - margin, 0)
            hi = np.minimum(face_hi + margin, [self.width, self.height])
            grey = cv2.cvtColor(np.ascontiguousarray(frame[lo[1]:hi[1], lo[0]:hi[0]]), cv2.COLOR_RGB2GRAY)
            px = px - lo
            if self._face_frames % SHARPNESS_EVERY == 0:
                self._sharpness(grey, px)
            self._face_frames += 1
            (fx0, fy0), (fx1, fy1) = face_lo - lo, face_hi - lo
            self._blockiness(grey[fy0:fy1, fx0:fx1], *face_lo)
            self._inner_face(grey, px)

    def _sharpness(self, grey: np.ndarray, px: np.ndarray) -> None:
        face, mouth = sharpness_pair(grey, px)
        if face is not None:
            self._log_face += np.log(face)
            self._n_face += 1
        if mouth is not None:
            self._log_mouth += np.log(mouth)
            self._n_mouth += 1

    def _blockiness(self, face_box: np.ndarray, x0: int, y0: int) -> None:
        edge, n_edge, inner, n_inner = block_sums(face_box, x0, y0)
        self._edge, self._n_edge = self._edge + edge, self._n_edge + n_edge
        self._inner, self._n_inner = self._inner + inner, self._n_inner + n_inner

    def _inner_face(self, grey: np.ndarray, px: np.ndarray) -> None:
        """Noise and flicker, on the inner face's box (``head.RIGID_POINTS``: forehead, eyes, nose;
        skin, no background, no moving mouth)."""
        rigid = px[list(RIGID_POINTS)]
        lo = np.clip(np.floor(rigid.min(0)), 0, None).astype(int)
        hi = np.minimum(np.ceil(rigid.max(0)), grey.shape[::-1]).astype(int)
        if min(hi - lo) < 2:
            self._prev = []
            return
        inner = grey[lo[1]:hi[1], lo[0]:hi[0]]
        sigma = noise_sigma(inner)
        if sigma is not None:
            self._noise, self._n_noise = self._noise + sigma, self._n_noise + 1
        level = float(inner.mean())
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
        if self._n_noise:
            row["face_noise"] = self._noise / self._n_noise
        return row
